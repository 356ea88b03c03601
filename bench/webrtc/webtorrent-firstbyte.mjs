// webtorrent-firstbyte.mjs: WebTorrent (npm `webtorrent` 3.x in Node, WebRTC through node-datachannel) as
// seeder or downloader for bench/webrtc.sh. It meets peers only through the WebSocket trackers it is given
// (no DHT, LSD, uTP, PEX, UPnP/NAT-PMP or web seeds; no STUN servers), so every wire is a WebRTC one.
//
//   node webtorrent-firstbyte.mjs seed PATH --tracker WS_URL
//   node webtorrent-firstbyte.mjs download MAGNET --dir DIR --tracker WS_URL
//
// seed prints {"event":"seeding","infoHash":HEX} once it has hashed the file and announced. download prints
// one JSON object and exits 0 when complete: addMs (when client.add was called; its first announce follows
// at once), firstByteMs (the first 'download' event: payload bytes received), doneMs (the 'done' event),
// all in milliseconds since the process started (performance.now()), and the wire types it downloaded from.
// Modules come from WEBTORRENT_MODULES, by default interop/node_modules of the repository.
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { fileURLToPath, pathToFileURL } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
const modules = process.env.WEBTORRENT_MODULES || path.join(here, '..', '..', 'interop', 'node_modules')
const { default: WebTorrent } = await import(pathToFileURL(path.join(modules, 'webtorrent', 'index.js')).href)

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
if (!['seed', 'download'].includes(mode) || !target || trackers.length === 0 || (mode === 'download' && !dir)) {
  fail(new Error('usage: webtorrent-firstbyte.mjs seed PATH|download MAGNET --dir DIR --tracker WS_URL'), 2)
}

const ms = () => +performance.now().toFixed(1)
function print (obj) { process.stdout.write(JSON.stringify(obj) + '\n') }
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
  tracker: { rtcConfig: { iceServers: [] } }
})
client.on('error', fail)

if (mode === 'seed') {
  const t = client.seed(target, { announce: trackers })
  t.on('error', fail)
  t.on('wire', wire => { if (wire.type !== 'webrtc') fail(new Error(`a ${wire.type} wire: only WebRTC was expected`)) })
  t.on('ready', () => print({ event: 'seeding', infoHash: t.infoHash, length: t.length }))
} else {
  const addMs = ms()
  const t = client.add(target, { announce: trackers, path: dir })
  let firstByteMs = null
  const wireTypes = {}
  t.on('error', fail)
  t.on('wire', wire => {
    wireTypes[wire.type] = (wireTypes[wire.type] || 0) + 1
    if (wire.type !== 'webrtc') fail(new Error(`a ${wire.type} wire: only WebRTC was expected`))
  })
  t.on('download', () => { if (firstByteMs === null) firstByteMs = ms() })
  t.on('done', () => {
    const doneMs = ms()
    print({ addMs, firstByteMs: firstByteMs ?? doneMs, doneMs, length: t.length, downloaded: t.downloaded, wireTypes })
    client.destroy(err => process.exit(err ? 1 : 0))
  })
}

setInterval(() => {}, 1 << 30)
function stop () {
  client.destroy(() => process.exit(0))
  setTimeout(() => process.exit(0), 2000).unref()
}
process.on('SIGINT', stop)
process.on('SIGTERM', stop)
