// wstracker.mjs runs bittorrent-tracker (the tracker WebTorrent uses) with its WebSocket front-end, the
// one WebTorrent's WebRTC peers meet through, for the WebRTC interop tests (webrtc_node_test.go). HTTP
// and WebSocket share one port, as in bittorrent-tracker's own server.
//
//   node node/wstracker.mjs [--host HOST] [--port N]
//
// It prints one JSON object per line on stdout: first
//   {"event":"listening","ws":"ws://HOST:PORT","http":"http://HOST:PORT/announce"}
// then one line per start, complete and stop announce ({"event":...,"addr":...,"infoHash":HEX}) and the
// first regular announce ("update") of each peer. It runs until SIGINT or SIGTERM.
import { Server } from 'bittorrent-tracker'

const args = process.argv.slice(2)
let host = '127.0.0.1'
let port = 0
for (let i = 0; i < args.length; i++) {
  switch (args[i]) {
    case '--host': host = args[++i]; break
    case '--port': port = Number(args[++i]); break
    default:
      console.error(`wstracker.mjs: unknown argument ${args[i]}`)
      process.exit(2)
  }
}

function print (obj) {
  process.stdout.write(JSON.stringify(obj) + '\n')
}

const server = new Server({ udp: false, http: true, ws: true, stats: false })
server.on('error', err => {
  console.error(`wstracker.mjs: ${err.message}`)
  process.exit(1)
})
server.on('warning', err => console.error(`wstracker.mjs: warning: ${err.message}`))
const updates = new Map()
for (const ev of ['start', 'update', 'complete', 'stop']) {
  server.on(ev, (addr, params) => {
    const infoHash = params && params.info_hash
    if (ev === 'update') {
      const key = `${addr} ${infoHash}`
      const n = (updates.get(key) || 0) + 1
      updates.set(key, n)
      if (n !== 1 && n % 100 !== 0) return
      print({ event: ev, addr, infoHash, count: n })
      return
    }
    print({ event: ev, addr, infoHash })
  })
}
server.on('listening', () => {
  const p = server.http.address().port
  print({ event: 'listening', ws: `ws://${host}:${p}`, http: `http://${host}:${p}/announce` })
})
server.listen(port, host)

function stop () {
  server.close(() => process.exit(0))
  setTimeout(() => process.exit(0), 1000).unref()
}
process.on('SIGINT', stop)
process.on('SIGTERM', stop)
