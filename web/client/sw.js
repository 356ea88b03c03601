// sw.js is swarmcast's service worker. It answers <base>webtorrent/<infohash>/<path>
// (the URL shape of swarmcast's native stream server) from the engine
// running in a page's worker, with Range: a <video> element plays while the
// swarm downloads, and seeks. It also keeps swarmcast.wasm in a cache for the
// next visit. swarmcast.js registers it with the scope of its own folder.
//
// For each stream request it finds the page that asked (or any page of the
// scope) and sends it {type:'swarmcast-stream'} with a MessagePort; the
// page hands the port to its engine worker, which answers on it (see
// serveStream in worker.js), or, while the engine loads, answers it itself
// from the video's origin (the bridge in swarmcast.js). The response body is pulled chunk by chunk, so
// bytes flow as fast as the player reads and the engine verifies them.
'use strict'

const cacheName = 'swarmcast-v1'

// replyTimeoutMs bounds the wait for the engine's first answers (file
// size, reader opened). Reading the bytes themselves waits as long as the
// swarm takes, as a slow server would.
const replyTimeoutMs = 30000

self.addEventListener('install', () => self.skipWaiting())
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()))

self.addEventListener('fetch', (event) => {
  const url = new URL(event.request.url)
  const scope = new URL(self.registration.scope)
  if (url.origin !== scope.origin) return
  const prefix = scope.pathname + 'webtorrent/'
  if (url.pathname.startsWith(prefix) && (event.request.method === 'GET' || event.request.method === 'HEAD')) {
    event.respondWith(stream(event, url.pathname.slice(prefix.length)))
    return
  }
  if (url.pathname === scope.pathname + 'swarmcast.wasm' && event.request.method === 'GET') {
    event.respondWith(cachedWasm(event))
  }
})

// cachedWasm answers from the cache and refreshes the cache behind it, so
// the next visit starts without downloading the engine.
async function cachedWasm (event) {
  const cache = await caches.open(cacheName)
  const hit = await cache.match(event.request)
  const refresh = fetch(event.request).then(async (res) => {
    if (res.ok && res.status === 200) await cache.put(event.request, res.clone())
    return res
  })
  if (hit) {
    event.waitUntil(refresh.catch(() => {}))
    return hit
  }
  return refresh
}

// parseRange reads a Range header against a length: null for the whole
// file, {start, end} (end exclusive) for one satisfiable range, 'invalid'
// for one that cannot be satisfied. Several ranges are answered with the
// first, as browsers' players never ask for more.
function parseRange (header, length) {
  if (!header) return null
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*(?:,.*)?$/i.exec(header)
  if (!m || (m[1] === '' && m[2] === '')) return null // not a bytes range: ignore, as RFC 9110 allows
  if (m[1] === '') {
    const n = Number(m[2])
    if (n === 0) return 'invalid'
    return { start: Math.max(0, length - n), end: length }
  }
  const start = Number(m[1])
  let end = m[2] === '' ? length : Number(m[2]) + 1
  if (start >= length || end <= start) return 'invalid'
  end = Math.min(end, length)
  return { start, end }
}

const types = {
  mp4: 'video/mp4', m4v: 'video/mp4', webm: 'video/webm', mkv: 'video/x-matroska', mov: 'video/quicktime',
  ogv: 'video/ogg', mp3: 'audio/mpeg', m4a: 'audio/mp4', ogg: 'audio/ogg', oga: 'audio/ogg', opus: 'audio/ogg',
  wav: 'audio/wav', flac: 'audio/flac', aac: 'audio/aac', jpg: 'image/jpeg', jpeg: 'image/jpeg', png: 'image/png',
  gif: 'image/gif', webp: 'image/webp', svg: 'image/svg+xml', txt: 'text/plain; charset=utf-8',
  html: 'text/html; charset=utf-8', json: 'application/json', pdf: 'application/pdf', m3u8: 'application/vnd.apple.mpegurl',
  ts: 'video/mp2t', vtt: 'text/vtt', srt: 'text/plain; charset=utf-8'
}

function contentType (path) {
  const ext = path.slice(path.lastIndexOf('.') + 1).toLowerCase()
  return types[ext] || 'application/octet-stream'
}

// findPage returns the page that made the request, or another page of the
// scope (a request from a worker or a prefetch has no page of its own).
async function findPage (clientId) {
  if (clientId) {
    const c = await self.clients.get(clientId)
    if (c && c.type === 'window') return c
  }
  const all = await self.clients.matchAll({ type: 'window' })
  return all[0] || null
}

// Port wraps a MessagePort: next() resolves with the next message.
class Port {
  constructor (port) {
    this.port = port
    this.queue = []
    this.waiters = []
    port.onmessage = (ev) => {
      const w = this.waiters.shift()
      if (w) w(ev.data)
      else this.queue.push(ev.data)
    }
  }

  ask (msg, timeoutMs) {
    this.port.postMessage(msg)
    return new Promise((resolve, reject) => {
      let timer = null
      const done = (data) => {
        if (timer) clearTimeout(timer)
        if (data.error) reject(Object.assign(new Error(data.error), { status: data.status }))
        else resolve(data)
      }
      if (this.queue.length) return done(this.queue.shift())
      this.waiters.push(done)
      if (timeoutMs) {
        timer = setTimeout(() => {
          const i = this.waiters.indexOf(done)
          if (i >= 0) this.waiters.splice(i, 1)
          reject(Object.assign(new Error('the swarmcast engine did not answer'), { status: 504 }))
        }, timeoutMs)
      }
    })
  }
}

function textResponse (status, text, headers) {
  return new Response(text, { status, headers: { 'Content-Type': 'text/plain; charset=utf-8', ...headers } })
}

async function stream (event, rest) {
  const slash = rest.indexOf('/')
  if (slash < 0) return textResponse(404, 'no file named in ' + rest)
  const infoHash = rest.slice(0, slash).toLowerCase()
  let path
  try {
    path = rest.slice(slash + 1).split('/').map(decodeURIComponent).join('/')
  } catch (err) {
    return textResponse(400, 'bad path: ' + err.message)
  }
  const page = await findPage(event.clientId || event.resultingClientId)
  if (!page) return textResponse(503, 'no swarmcast page is open to serve this stream')
  const chan = new MessageChannel()
  page.postMessage({ type: 'swarmcast-stream' }, [chan.port2])
  const port = new Port(chan.port1)
  let length
  try {
    length = (await port.ask({ op: 'info', infoHash, path }, replyTimeoutMs)).length
  } catch (err) {
    return textResponse(err.status || 500, err.message)
  }
  const range = parseRange(event.request.headers.get('Range'), length)
  const headers = {
    'Content-Type': contentType(path),
    'Accept-Ranges': 'bytes',
    ETag: `"${infoHash}-${path}"`,
    'Cache-Control': 'no-store'
  }
  if (range === 'invalid') {
    port.port.postMessage({ op: 'cancel' })
    return textResponse(416, 'range not satisfiable', { 'Content-Range': `bytes */${length}` })
  }
  const start = range ? range.start : 0
  const end = range ? range.end : length
  headers['Content-Length'] = String(end - start)
  if (range) headers['Content-Range'] = `bytes ${start}-${end - 1}/${length}`
  const status = range ? 206 : 200
  if (event.request.method === 'HEAD' || end === start) {
    port.port.postMessage({ op: 'cancel' })
    return new Response(null, { status, headers })
  }
  try {
    await port.ask({ op: 'open', start, end }, replyTimeoutMs)
  } catch (err) {
    return textResponse(err.status || 500, err.message)
  }
  const body = new ReadableStream({
    async pull (controller) {
      try {
        const m = await port.ask({ op: 'pull' })
        if (m.done) {
          controller.close()
          port.port.postMessage({ op: 'cancel' })
        } else {
          controller.enqueue(m.chunk)
        }
      } catch (err) {
        controller.error(err)
      }
    },
    cancel () {
      port.port.postMessage({ op: 'cancel' })
    }
  }, { highWaterMark: 1 }) // one chunk read ahead of the player
  return new Response(body, { status, headers })
}

// For tests of parseRange in Node.
if (typeof module !== 'undefined') module.exports = { parseRange, contentType }
