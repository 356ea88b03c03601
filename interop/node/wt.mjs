// wt.mjs drives WebTorrent (npm `webtorrent`, the reference implementation) in Node over TCP only, as a
// seeder or a downloader, for the interop tests.
//
//   node node/wt.mjs seed PATH [--torrent-out FILE] [--tracker URL]... [--peer HOST:PORT]... [--port N]
//   node node/wt.mjs seed-torrent TORRENT --dir DIR [--peer HOST:PORT]... [--tracker URL]... [--port N]
//   node node/wt.mjs download TORRENT|MAGNET --dir DIR [--peer HOST:PORT]... [--tracker URL]... [--port N] [--keep]
//
// seed creates a torrent of PATH (a file or folder) the way WebTorrent does and seeds it; seed-torrent
// verifies the data of TORRENT found in DIR and seeds it; download fetches into DIR (DIR/NAME, as
// WebTorrent lays files out) and exits 0 once every piece is verified, unless --keep.
//
// Discovery is only what the test gives: no DHT, LSD, uTP, UPnP/NAT-PMP or web seeds; trackers only
// with --tracker. Protocol encryption is off (swarmcast speaks plaintext only).
//
// It prints one JSON object per line on stdout: {"event":"listening","port":N}, then
// {"event":"ready",...} when the torrent's metadata is known (with infoHash and magnetURI), then
// {"event":"progress",...} each second, {"event":"wire","addr":...} for each peer connection, and
// {"event":"done",...} when complete. Errors print {"event":"error","message":...} and exit 1.
import fs from 'node:fs'
import WebTorrent from 'webtorrent'

const argv = process.argv.slice(2)
const mode = argv.shift()
const target = argv.shift()
const peers = []
const trackers = []
let dir = null
let torrentOut = null
let port = 0
let keep = false
for (let i = 0; i < argv.length; i++) {
  switch (argv[i]) {
    case '--peer': peers.push(argv[++i]); break
    case '--tracker': trackers.push(argv[++i]); break
    case '--dir': dir = argv[++i]; break
    case '--torrent-out': torrentOut = argv[++i]; break
    case '--port': port = Number(argv[++i]); break
    case '--keep': keep = true; break
    default: fail(new Error(`unknown argument ${argv[i]}`), 2)
  }
}
if (!['seed', 'seed-torrent', 'download'].includes(mode) || !target) {
  fail(new Error('usage: wt.mjs seed|seed-torrent|download TARGET [flags]'), 2)
}
if (mode !== 'seed' && !dir) fail(new Error(`${mode} needs --dir DIR`), 2)

function print (obj) {
  process.stdout.write(JSON.stringify(obj) + '\n')
}

function fail (err, code = 1) {
  print({ event: 'error', message: String(err && err.message ? err.message : err) })
  process.exit(code)
}

const client = new WebTorrent({
  dht: false,
  lsd: false,
  utp: false,
  utPex: true,
  natUpnp: false,
  natPmp: false,
  webSeeds: false,
  secure: 0, // plaintext: swarmcast has no MSE/PE
  tracker: trackers.length > 0 ? {} : false,
  torrentPort: port
})
client.on('error', fail)
client.on('listening', () => print({ event: 'listening', port: client.address().port }))

function status (torrent) {
  return {
    infoHash: torrent.infoHash,
    progress: torrent.progress,
    downloaded: torrent.downloaded,
    uploaded: torrent.uploaded,
    numPeers: torrent.numPeers,
    done: torrent.done
  }
}

function watch (torrent) {
  torrent.on('error', fail)
  torrent.on('warning', err => console.error(`wt.mjs: warning: ${err.message || err}`))
  torrent.on('wire', (wire, addr) => {
    print({ event: 'wire', addr, peerId: wire.peerId, peerClient: wire.peerExtendedHandshake && wire.peerExtendedHandshake.v ? String(wire.peerExtendedHandshake.v) : '' })
    wire.on('close', () => print({ event: 'wire-closed', addr }))
  })
  torrent.on('infoHash', () => {
    for (const p of peers) torrent.addPeer(p)
  })
  torrent.on('ready', () => {
    if (torrentOut) fs.writeFileSync(torrentOut, torrent.torrentFile)
    print({
      event: 'ready',
      infoHash: torrent.infoHash,
      magnetURI: torrent.magnetURI,
      name: torrent.name,
      length: torrent.length,
      pieceLength: torrent.pieceLength,
      files: torrent.files.map(f => ({ path: f.path, length: f.length }))
    })
    if (torrent.done) onDone()
  })
  let finished = false
  function onDone () {
    if (finished) return
    finished = true
    print({ event: 'done', ...status(torrent) })
    if (mode === 'download' && !keep) {
      // destroy() closes the file store, so every byte is on disk before the exit.
      client.destroy(err => process.exit(err ? 1 : 0))
    }
  }
  torrent.on('done', onDone)
  setInterval(() => print({ event: 'progress', ...status(torrent) }), 1000).unref()
}

const opts = { announce: trackers }
if (mode === 'seed') {
  const t = client.seed(target, { ...opts, createdBy: `WebTorrent/${WebTorrent.VERSION}` })
  watch(t)
} else {
  const id = target.startsWith('magnet:') ? target : fs.readFileSync(target)
  const t = client.add(id, { ...opts, path: dir })
  watch(t)
}

// Keep the process alive (seeding, or waiting for peers) until the test stops it.
setInterval(() => {}, 1 << 30)
function stop () {
  client.destroy(() => process.exit(0))
  setTimeout(() => process.exit(0), 2000).unref()
}
process.on('SIGINT', stop)
process.on('SIGTERM', stop)
