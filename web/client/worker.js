// worker.js is the dedicated Web Worker that runs the swarmcast engine
// (swarmcast.wasm, cmd/swarmcast-wasm). swarmcast.js starts it from the same
// folder, which also holds wasm_exec.js (Go's loader, copied from the Go
// release by scripts/build-wasm.sh).
//
// The worker has WebSocket, WebAssembly and OPFS, but no RTCPeerConnection:
// the page makes peer connections and transfers each data channel here, and
// this file is the bridge (self.swarmcastRTC) the engine's WebRTC transport
// calls. Messages between the page and this worker:
//
//   page -> worker  {type:'call', req, method, args}          an engine call
//                   {type:'rtc-reply', req, ok, value|error}  answer to an rtc request
//                   {type:'rtc-channel', id, channel}         a data channel, transferred
//                   {type:'rtc-failed', id}                   the pc failed or closed
//                   {type:'stream', port}                     a service worker's stream request
//   worker -> page  {type:'reply', req, ok, value|error}
//                   {type:'rtc', req, op, ...}                 offer / answer / accept
//                   {type:'rtc-close', id}
//                   {type:'fatal', error}                      the engine could not start or ended
'use strict'

const base = new URL('./', self.location.href).href
importScripts(base + 'wasm_exec.js')

// streamChunk is how much one pull of a stream reads: large enough that a
// video streams at hundreds of MB/s through the message hops, small enough
// that a seek does not wait behind a big read.
const streamChunk = 256 << 10

// earlyMaxBytes bounds what a data channel may receive between its arrival
// here and the engine taking it (the engine's own read queue holds 16 MiB);
// a peer that sends more in that moment is closed.
const earlyMaxBytes = 16 << 20

// settleAfterMs is how long the state of a closed peer connection is kept,
// so that a late channel(id) or failed(id) call still settles.
const settleAfterMs = 60000

let engineReady
let wasmMemory = null // the engine's WebAssembly.Memory, once instantiated
const ready = new Promise((resolve) => { engineReady = resolve })
self.swarmcastEngineReady = () => engineReady(self.swarmcastEngine)

// --- the WebRTC bridge -----------------------------------------------------

let nextReq = 1
const pending = new Map() // rtc request id -> {resolve, reject}
const slots = new Map() // pc id -> {channel, failed} deferreds

function deferred () {
  const d = {}
  d.promise = new Promise((resolve, reject) => { d.resolve = resolve; d.reject = reject })
  d.promise.catch(() => {}) // nobody may be waiting yet
  return d
}

function slot (id) {
  let s = slots.get(id)
  if (!s) {
    s = { channel: deferred(), failed: deferred() }
    slots.set(id, s)
  }
  return s
}

function endSlot (id, why) {
  const s = slot(id)
  s.channel.reject(new Error(why))
  s.failed.resolve()
  setTimeout(() => slots.delete(id), settleAfterMs)
}

function ask (op, fields) {
  return new Promise((resolve, reject) => {
    const req = nextReq++
    pending.set(req, { resolve, reject })
    self.postMessage({ type: 'rtc', req, op, ...fields })
  })
}

// keepEarly keeps the messages a data channel receives from its arrival in
// this worker until the engine takes it (transport/webrtc's newConn sets its
// own handlers and reads channel.swarmcastEarly first). The engine asks for
// the channel a few tasks later, after promises settle, and a message event
// with no listener is lost: a native peer that answers at once sends its
// BitTorrent handshake in that moment, and the engine read the message after
// it as a handshake.
function keepEarly (ch) {
  ch.binaryType = 'arraybuffer'
  const early = []
  let bytes = 0
  ch.swarmcastEarly = early
  ch.onmessage = (ev) => {
    bytes += typeof ev.data === 'string' ? ev.data.length : ev.data.byteLength
    if (bytes > earlyMaxBytes) {
      early.length = 0
      ch.onmessage = null
      ch.close()
      return
    }
    early.push(ev.data)
  }
}

self.swarmcastRTC = {
  offer: (gatherMs) => ask('offer', { gatherMs }),
  answer: (sdp, gatherMs) => ask('answer', { sdp, gatherMs }),
  accept: (id, sdp) => ask('accept', { id, sdp }),
  channel: (id) => slot(id).channel.promise,
  failed: (id) => slot(id).failed.promise,
  close (id) {
    self.postMessage({ type: 'rtc-close', id })
    endSlot(id, 'peer connection closed')
  }
}

// --- streams for the service worker ----------------------------------------

// serveStream answers one service worker request over its MessagePort:
// {op:'info', infoHash, path} -> {length}; {op:'open', start, end} (end
// exclusive); then each {op:'pull'} -> {chunk} | {done:true}; {op:'cancel'}
// ends it. Errors answer {error, status}.
function serveStream (port) {
  let reader = null
  let left = 0
  let fileIndex = -1
  let infoHash = ''
  const fail = (err, status) => port.postMessage({ error: String(err && err.message ? err.message : err), status: status || 500 })
  const close = () => {
    if (reader !== null) {
      const id = reader
      reader = null
      ready.then((e) => e.close(id))
    }
  }
  port.onmessage = async (ev) => {
    const m = ev.data
    try {
      const e = await ready
      if (m.op === 'info') {
        infoHash = m.infoHash
        const info = JSON.parse(await e.info(m.infoHash))
        fileIndex = info.files.findIndex((f) => f.path === m.path)
        if (fileIndex < 0) return fail(`no file ${m.path} in torrent ${m.infoHash}`, 404)
        port.postMessage({ length: info.files[fileIndex].length })
      } else if (m.op === 'open') {
        close()
        left = m.end - m.start
        reader = await e.open(infoHash, fileIndex, m.start)
        port.postMessage({ opened: true })
      } else if (m.op === 'pull') {
        if (reader === null || left <= 0) {
          close()
          return port.postMessage({ done: true })
        }
        const id = reader
        const chunk = await e.read(id, Math.min(streamChunk, left))
        if (chunk === null) {
          close()
          return port.postMessage({ done: true })
        }
        left -= chunk.length
        port.postMessage({ chunk }, [chunk.buffer])
      } else if (m.op === 'cancel') {
        close()
        port.close()
      }
    } catch (err) {
      close()
      fail(err, /no torrent/.test(String(err)) ? 404 : 500)
    }
  }
}

// --- messages from the page ------------------------------------------------

self.onmessage = async (ev) => {
  const m = ev.data
  switch (m.type) {
    case 'call': {
      if (m.method === 'memory') {
        // The wasm heap's size: it grows and never shrinks, so this is its peak.
        self.postMessage({ type: 'reply', req: m.req, ok: true, value: wasmMemory ? wasmMemory.buffer.byteLength : 0 })
        break
      }
      try {
        const e = await ready
        const value = await e[m.method](...m.args)
        const transfer = value instanceof Uint8Array ? [value.buffer] : []
        self.postMessage({ type: 'reply', req: m.req, ok: true, value }, transfer)
      } catch (err) {
        self.postMessage({ type: 'reply', req: m.req, ok: false, error: String(err && err.message ? err.message : err) })
      }
      break
    }
    case 'rtc-reply': {
      const p = pending.get(m.req)
      if (!p) break
      pending.delete(m.req)
      if (m.ok) p.resolve(m.value)
      else p.reject(new Error(m.error))
      break
    }
    case 'rtc-channel':
      keepEarly(m.channel)
      slot(m.id).channel.resolve(m.channel)
      break
    case 'rtc-failed':
      endSlot(m.id, 'peer connection failed')
      break
    case 'stream':
      serveStream(m.port)
      break
  }
}

// --- start ------------------------------------------------------------------

async function instantiate (go) {
  const url = base + 'swarmcast.wasm'
  try {
    return (await WebAssembly.instantiateStreaming(fetch(url), go.importObject)).instance
  } catch (err) {
    // A server that sends the wasm without Content-Type application/wasm
    // fails the streaming compile; compiling from the bytes still works.
    const res = await fetch(url)
    if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}`)
    return (await WebAssembly.instantiate(await res.arrayBuffer(), go.importObject)).instance
  }
}

(async () => {
  const t0 = performance.now()
  const go = new self.Go()
  const instance = await instantiate(go)
  wasmMemory = instance.exports.mem
  self.postMessage({ type: 'loaded', ms: performance.now() - t0 })
  await go.run(instance)
  self.postMessage({ type: 'fatal', error: 'the engine ended' })
})().catch((err) => self.postMessage({ type: 'fatal', error: String(err && err.message ? err.message : err) }))
