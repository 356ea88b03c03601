// webtorrent-stream.mjs streams a torrent with WebTorrent's own HTTP server (npm `webtorrent` 3.x in
// Node), the reference that bench/stream.sh compares `swarmcast stream` with.
//
//   node bench/stream/webtorrent-stream.mjs TORRENT --dir DIR --peer HOST:PORT [--host 127.0.0.1]
//
// The torrent's data goes to DIR (empty at start: it streams from nothing). Discovery is only the peer
// given: no DHT, LSD, trackers, uTP, UPnP/NAT-PMP, PEX or web seeds; WebRTC is never used, since there
// are no trackers to find WebRTC peers through. Protocol encryption is off (swarmcast seeds plaintext).
//
// It prints one JSON object per line on stdout: {"event":"listening","url":STREAM_URL} once the HTTP
// server is up and the torrent's metadata is known (STREAM_URL is WebTorrent's file.streamURL on that
// server), {"event":"wire","addr":...} when connected to a peer, and {"event":"progress",...} each
// second. It runs until SIGINT or SIGTERM.
//
// The webtorrent package comes from interop/node_modules (installed by scripts/install-test-deps.sh),
// or from the folder that WEBTORRENT_MODULES names.
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
const modules = process.env.WEBTORRENT_MODULES || path.join(here, '..', '..', 'interop', 'node_modules')
const { default: WebTorrent } = await import(pathToFileURL(path.join(modules, 'webtorrent', 'index.js')).href)

const argv = process.argv.slice(2)
const torrentPath = argv.shift()
let dir = null
let host = '127.0.0.1'
const peers = []
for (let i = 0; i < argv.length; i++) {
  switch (argv[i]) {
    case '--dir': dir = argv[++i]; break
    case '--peer': peers.push(argv[++i]); break
    case '--host': host = argv[++i]; break
    default: fail(new Error(`unknown argument ${argv[i]}`), 2)
  }
}
if (!torrentPath || !dir) fail(new Error('usage: webtorrent-stream.mjs TORRENT --dir DIR --peer HOST:PORT'), 2)

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
  utPex: false,
  natUpnp: false,
  natPmp: false,
  webSeeds: false,
  tracker: false,
  secure: 0 // plaintext: swarmcast has no MSE/PE
})
client.on('error', fail)

const torrent = client.add(fs.readFileSync(torrentPath), { path: dir, announce: [] })
torrent.on('error', fail)
torrent.on('warning', (err) => process.stderr.write(`webtorrent-stream.mjs: warning: ${err.message || err}\n`))
torrent.on('infoHash', () => {
  for (const p of peers) torrent.addPeer(p)
})
torrent.on('wire', (wire, addr) => print({ event: 'wire', addr }))

const server = client.createServer()
server.listen(0, host, () => {
  const onReady = () => {
    const { port } = server.address()
    // The largest file, as `swarmcast stream` picks for a torrent of non-media files.
    const file = torrent.files.reduce((a, b) => (b.length > a.length ? b : a))
    print({ event: 'listening', url: `http://${host}:${port}${file.streamURL}`, infoHash: torrent.infoHash, length: file.length })
  }
  if (torrent.ready) onReady()
  else torrent.once('ready', onReady)
})

setInterval(() => print({
  event: 'progress',
  progress: torrent.progress,
  downloaded: torrent.downloaded,
  downloadSpeed: torrent.downloadSpeed,
  numPeers: torrent.numPeers
}), 1000)

function stop () {
  client.destroy(() => process.exit(0))
  setTimeout(() => process.exit(0), 2000).unref()
}
process.on('SIGINT', stop)
process.on('SIGTERM', stop)
