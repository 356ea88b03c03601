// bt-tracker.mjs runs npm bittorrent-tracker's server with HTTP and WebSocket on one port, as
// WebTorrent deployments run it, for tracker.sh:  node bt-tracker.mjs PORT
// It prints "listening" once it accepts connections.
// The server alone: the package's index also loads the WebRTC client and its native module.
import Server from 'bittorrent-tracker/server'

const port = Number(process.argv[2])
const server = new Server({ udp: false, http: true, ws: true, stats: false })
server.on('error', err => {
  console.error(`bt-tracker.mjs: ${err.message}`)
  process.exit(1)
})
server.on('warning', () => {})
server.listen(port, '127.0.0.1', () => console.log('listening'))
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => server.close(() => process.exit(0)))
