// tracker.mjs runs bittorrent-tracker (the tracker WebTorrent uses) as a local HTTP (and optionally UDP)
// tracker for the interop tests, so that clients that find peers only through a tracker (aria2,
// Transmission) can meet swarmcast.
//
//   node node/tracker.mjs [--host HOST] [--port N] [--udp]
//
// It prints one JSON object per line on stdout: first
//   {"event":"listening","http":"http://HOST:PORT/announce","udp":"udp://HOST:PORT"}
// then one line per announce ({"event":"start"|"update"|"complete"|"stop","addr":"IP:PORT",
// "infoHash":HEX}; "update" with a "count", see below), which tells a test that a client has
// announced. It runs until SIGINT or SIGTERM.
import { Server } from 'bittorrent-tracker'

const args = process.argv.slice(2)
let host = '127.0.0.1'
let port = 0
let udp = false
for (let i = 0; i < args.length; i++) {
  switch (args[i]) {
    case '--host': host = args[++i]; break
    case '--port': port = Number(args[++i]); break
    case '--udp': udp = true; break
    default:
      console.error(`tracker.mjs: unknown argument ${args[i]}`)
      process.exit(2)
  }
}

function print (obj) {
  process.stdout.write(JSON.stringify(obj) + '\n')
}

const server = new Server({
  http: true,
  udp,
  ws: false,
  stats: false,
  // Clients re-announce every few seconds, so that a peer that announced before the other one
  // was listening still finds it soon.
  interval: 5000
})

server.on('error', err => {
  console.error(`tracker.mjs: ${err.message}`)
  process.exit(1)
})
server.on('warning', err => console.error(`tracker.mjs: warning: ${err.message}`))
// A regular re-announce ("update") is printed only the first time a peer sends one, and then once per
// 100, so that a client announcing too often shows without flooding the log.
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
  const out = { event: 'listening' }
  const h = server.http.address()
  out.http = `http://${host}:${h.port}/announce`
  if (server.udp4) out.udp = `udp://${host}:${server.udp4.address().port}`
  print(out)
})

// With --udp the UDP sockets take their own free port when --port is 0; bittorrent-tracker always opens
// an IPv6 UDP socket too, which binds to the IPv6 loopback.
server.listen(udp && port === 0 ? { http: 0, udp: 0 } : port, { http: host, udp: host, udp6: '::1' })

function stop () {
  server.close(() => process.exit(0))
  setTimeout(() => process.exit(0), 1000).unref()
}
process.on('SIGINT', stop)
process.on('SIGTERM', stop)
