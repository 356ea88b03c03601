// bt-tracker-udp.mjs runs npm bittorrent-tracker's server with HTTP and UDP on one port number and its
// statistics page on, as a classic (non-WebRTC) deployment runs it, for hostile.sh:  node bt-tracker-udp.mjs PORT
// It prints "listening" once it accepts requests.
import Server from 'bittorrent-tracker/server'

const port = Number(process.argv[2])
const server = new Server({ udp: true, http: true, ws: false, stats: true })
server.on('error', err => {
  console.error(`bt-tracker-udp.mjs: ${err.message}`)
  process.exit(1)
})
server.on('warning', () => {})
// udp6 binds to ::1: an IPv4 address is refused there (EINVAL), and only loopback is listened on.
server.listen(port, { http: '127.0.0.1', udp: '127.0.0.1', udp6: '::1' }, () => console.log('listening'))
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => server.close(() => process.exit(0)))
