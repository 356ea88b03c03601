// wtrtc.mjs drives WebTorrent (npm `webtorrent`) in Node as a WebRTC peer for the WebRTC interop tests
// (webrtc_node_test.go): it finds peers only through the WebSocket trackers it is given, so every peer
// it meets is a WebRTC data channel (node-datachannel, through webrtc-polyfill), never TCP.
//
//   node node/wtrtc.mjs seed PATH --tracker WS_URL...
//   node node/wtrtc.mjs download MAGNET --dir DIR --tracker WS_URL...
//
// seed creates a torrent of the file PATH and seeds it; download fetches into DIR (DIR/NAME) and exits 0
// once every piece is verified and the files are closed. No DHT, LSD, uTP, PEX, UPnP/NAT-PMP or web
// seeds; no STUN servers (there is no network beyond this host).
//
// It prints one JSON object per line on stdout: {"event":"ready",...} when the metadata is known (with
// infoHash and magnetURI), {"event":"wire","type":"webrtc",...} per peer, {"event":"progress",...} each
// second, and {"event":"done",...} when complete, with bytesByWireType (bytes downloaded from each kind of
// wire: webrtc, tcpIncoming, tcpOutgoing, ...). Errors print {"event":"error","message":...} and exit 1.
import fs from 'node:fs'
import WebTorrent from 'webtorrent'

const argv = process.argv.slice(2)
const mode = argv.shift()
const target = argv.shift()
const trackers = []
let dir = null
for (let i = 0; i < argv.length; i++) {
  switch (argv[i]) {
    case '--tracker': trackers.push(argv[++i]); break
    case '--dir': dir = argv[++i]; break
    default: fail(new Error(`unknown argument ${argv[i]}`), 2)
  }
}
if (!['seed', 'download'].includes(mode) || !target || trackers.length === 0) {
  fail(new Error('usage: wtrtc.mjs seed PATH|download MAGNET --dir DIR --tracker WS_URL...'), 2)
}
if (mode === 'download' && !dir) fail(new Error('download needs --dir DIR'), 2)

const started = Date.now()
function print (obj) {
  process.stdout.write(JSON.stringify({ ...obj, at: Date.now() - started }) + '\n')
}

function fail (err, code = 1) {
  process.stdout.write(JSON.stringify({ event: 'error', message: String(err && err.message ? err.message : err) }) + '\n')
  process.exit(code)
}

const client = new WebTorrent({
  dht: false,
  lsd: false,
  utp: false,
  utPex: false,
  natUpnp: false,
  natPmp: false,
  webSeeds: false,
  tracker: { rtcConfig: { iceServers: [] } }
})
client.on('error', fail)

// Bytes downloaded from wires that have closed, by wire type, so that "done" counts them too.
const closedBytes = {}
function bytesByWireType (torrent) {
  const out = { ...closedBytes }
  for (const w of torrent.wires) out[w.type] = (out[w.type] || 0) + w.downloaded
  return out
}

function status (torrent) {
  return {
    infoHash: torrent.infoHash,
    progress: +torrent.progress.toFixed(4),
    downloaded: torrent.downloaded,
    uploaded: torrent.uploaded,
    numPeers: torrent.numPeers,
    bytesByWireType: bytesByWireType(torrent),
    done: torrent.done
  }
}

function watch (torrent) {
  torrent.on('error', fail)
  let warnings = 0
  torrent.on('warning', err => { if (warnings++ < 20) console.error(`wtrtc.mjs: warning: ${err.message || err}`) })
  torrent.on('wire', (wire, addr) => {
    print({ event: 'wire', type: wire.type, addr: addr || null })
    wire.on('close', () => {
      closedBytes[wire.type] = (closedBytes[wire.type] || 0) + wire.downloaded
      print({ event: 'wire-closed', type: wire.type, downloaded: wire.downloaded, uploaded: wire.uploaded })
    })
  })
  torrent.on('ready', () => {
    print({ event: 'ready', infoHash: torrent.infoHash, magnetURI: torrent.magnetURI, name: torrent.name, length: torrent.length })
    if (torrent.done) onDone()
  })
  let finished = false
  function onDone () {
    if (finished) return
    finished = true
    print({ event: 'done', ...status(torrent) })
    if (mode === 'download') {
      // destroy() closes the file store, so every byte is on disk before the exit.
      client.destroy(err => process.exit(err ? 1 : 0))
    }
  }
  torrent.on('done', onDone)
  setInterval(() => print({ event: 'progress', ...status(torrent) }), 1000).unref()
}

if (mode === 'seed') {
  watch(client.seed(target, { announce: trackers }))
} else {
  watch(client.add(target, { announce: trackers, path: dir }))
}

setInterval(() => {}, 1 << 30)
function stop () {
  client.destroy(() => process.exit(0))
  setTimeout(() => process.exit(0), 2000).unref()
}
process.on('SIGINT', stop)
process.on('SIGTERM', stop)
