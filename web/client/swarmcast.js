// swarmcast.js loads the swarmcast engine (WebAssembly, in a dedicated Web
// Worker) into a page and gives the page WebTorrent's vocabulary:
//
//   const client = await Swarmcast.start({ trackers: ['wss://tracker.example'] })
//   const torrent = await client.add(magnetOrTorrentURLOrBytes)
//   video.src = torrent.files[0].streamURL
//   torrent.on('progress', (s) => ...); torrent.on('done', ...)
//   const seeded = await client.seed(file, { name: file.name })
//
// The page keeps what only a page has: RTCPeerConnection. It makes the peer
// connections the engine asks for and transfers each data channel to the
// worker the moment it exists (the only moment Chromium allows that). The
// service worker (sw.js) answers streamURL requests with Range by asking
// this page, which hands the request's port to the worker, or, before the
// engine is ready, answers it from the video's origin (Swarmcast.bridge).
//
// It is a classic script defining window.Swarmcast; it also works as an ES
// module import (import './swarmcast.js', then window.Swarmcast).
(function (global) {
  'use strict'

  const script = typeof document !== 'undefined' && document.currentScript
  const scriptBase = script && script.src ? new URL('./', script.src).href : null

  // statsEveryMs is how often a torrent's progress event fires.
  const statsEveryMs = 1000

  // gatherCapMs bounds ICE gathering whatever the engine asks: simple-peer
  // waits up to 5 s; host candidates take milliseconds, and a STUN server
  // that does not answer should not hold an offer longer.
  const gatherCapMs = 5000

  // offerPoolSize offers are made as a client starts, while its engine
  // loads: an offer (a peer connection, its data channel, ICE gathering)
  // takes the page 100-300 ms, and the engine's first announce waits for its
  // offers (it makes two), so it went out that much after the engine was
  // ready. The engine takes these first; one not taken within offerPoolMs is
  // closed.
  const offerPoolSize = 2
  const offerPoolMs = 30000

  // controllerWaitMs bounds the wait for the service worker to control the
  // page on a first visit (clients.claim); streaming is unavailable if it
  // does not.
  const controllerWaitMs = 5000

  class Emitter {
    constructor () { this._handlers = {} }
    on (ev, fn) { (this._handlers[ev] = this._handlers[ev] || []).push(fn); return this }
    off (ev, fn) { this._handlers[ev] = (this._handlers[ev] || []).filter((f) => f !== fn); return this }
    emit (ev, ...args) {
      for (const fn of (this._handlers[ev] || []).slice()) {
        try { fn(...args) } catch (err) { setTimeout(() => { throw err }) }
      }
    }
  }

  function message (err) { return String(err && err.message ? err.message : err) }

  function escapePath (p) { return p.split('/').map(encodeURIComponent).join('/') }

  // baseURL is the absolute URL of the folder base names (default: this
  // script's), ending in '/'.
  function baseURL (base) {
    const u = new URL(base || scriptBase || '/', global.location.href).href
    return u.endsWith('/') ? u : u + '/'
  }

  // streamURLOf is where the service worker answers a torrent's file.
  function streamURLOf (base, infoHash, path) { return base + 'webtorrent/' + infoHash + '/' + escapePath(path) }

  // waitGathering resolves when pc's ICE gathering is complete, or after ms.
  function waitGathering (pc, ms) {
    if (pc.iceGatheringState === 'complete') return Promise.resolve()
    return new Promise((resolve) => {
      const timer = setTimeout(done, Math.min(ms || gatherCapMs, gatherCapMs))
      function done () {
        clearTimeout(timer)
        pc.removeEventListener('icegatheringstatechange', check)
        pc.removeEventListener('icecandidate', onCandidate)
        resolve()
      }
      function check () { if (pc.iceGatheringState === 'complete') done() }
      function onCandidate (ev) { if (!ev.candidate) done() }
      pc.addEventListener('icegatheringstatechange', check)
      pc.addEventListener('icecandidate', onCandidate)
    })
  }

  // --- the service worker's stream requests ----------------------------------

  // streams routes the service worker's stream requests ({type:
  // 'swarmcast-stream'} with a MessagePort): to the origin bridge while it
  // serves the first bytes of a video (its engine not yet attached), else to
  // a client's engine worker.
  const streams = {
    bridge: null,
    clients: new Set(),
    listening: false,
    listen () {
      const sw = global.navigator && global.navigator.serviceWorker
      if (!sw || this.listening) return
      this.listening = true
      sw.addEventListener('message', (ev) => this.route(ev))
      if (sw.startMessages) sw.startMessages()
    },
    route (ev) {
      const port = ev.data && ev.data.type === 'swarmcast-stream' && ev.ports && ev.ports[0]
      if (!port) return
      if (this.bridge && !this.bridge.attached) return this.bridge._serve(port)
      for (const c of this.clients) {
        if (!c.destroyed) return c.worker.postMessage({ type: 'stream', port }, [port])
      }
      port.postMessage({ error: 'no swarmcast engine runs in this page', status: 503 })
    }
  }

  // registrations holds, per base, the promise of registering sw.js there:
  // true once it controls the page.
  const registrations = new Map()

  // registerServiceWorker registers sw.js (in base, with base as its scope)
  // once per page and resolves with whether it controls the page, waiting up
  // to controllerWaitMs for that on a first visit. It rejects when the
  // browser refuses the registration.
  function registerServiceWorker (base) {
    const sw = global.navigator && global.navigator.serviceWorker
    if (!sw) return Promise.resolve(false)
    base = baseURL(base)
    streams.listen()
    if (!registrations.has(base)) {
      registrations.set(base, (async () => {
        const reg = sw.register(base + 'sw.js', { scope: base })
        // A page it already controls need not wait: register also checks
        // for an update of sw.js, which took seconds behind other tabs'
        // streams in the same service worker.
        if (sw.controller) {
          reg.catch(() => {})
          return true
        }
        await reg
        if (sw.controller) return true
        await new Promise((resolve) => {
          const timer = setTimeout(resolve, controllerWaitMs)
          sw.addEventListener('controllerchange', () => { clearTimeout(timer); resolve() }, { once: true })
        })
        return !!sw.controller
      })())
    }
    return registrations.get(base)
  }

  // PortAsk wraps a MessagePort to an engine stream (worker.js serveStream):
  // ask(msg) posts msg and resolves with the reply, or rejects with its
  // error (err.status is the HTTP status to answer with).
  class PortAsk {
    constructor (port) {
      this.port = port
      this.waiters = []
      port.onmessage = (ev) => {
        const w = this.waiters.shift()
        if (w) w(ev.data)
      }
    }

    ask (msg) {
      return new Promise((resolve, reject) => {
        this.waiters.push((data) => {
          if (data && data.error) reject(Object.assign(new Error(data.error), { status: data.status }))
          else resolve(data)
        })
        this.port.postMessage(msg)
      })
    }

    close () {
      this.port.postMessage({ op: 'cancel' })
      this.port.close()
    }
  }

  // bridgeMaxBytes is what a bridge takes from the origin by default: the
  // first frames and a few seconds of a typical web video (3.5 s of the
  // demo's 1.2 Mbit/s sample) while the engine loads.
  const bridgeMaxBytes = 512 << 10

  // Bridge serves a video's stream URL from its origin (its web seed) before
  // the engine is ready, so the first frame does not wait for the
  // WebAssembly: the service worker answers <video src=streamURL> as always,
  // and this page answers it with bytes from the origin, read only as the
  // player pulls them and at most maxBytes in all. attach(client) hands it
  // to the engine: the stream being played goes on from the engine at the
  // byte it reached, in the same response (no new src, no glitch), and
  // later requests go to the engine. Once maxBytes are spent, or if the
  // origin fails, the player waits for the engine.
  //
  //   const bridge = Swarmcast.bridge({ infoHash, path, length, url })
  //   if (await bridge.ready) video.src = bridge.streamURL
  //   const client = await Swarmcast.start(...); await client.add(torrent)
  //   bridge.attach(client)
  //
  // opts: infoHash (hex), path and length of the file in the torrent, url
  // (the file at the origin, CORS-readable with Range), maxBytes, base (as
  // for start). One bridge serves a page at a time; a new one closes the old.
  class Bridge {
    constructor (opts) {
      if (!/^[0-9a-fA-F]{40}$/.test(opts.infoHash || '')) throw new TypeError('swarmcast: bridge needs the torrent\'s hex info hash')
      if (!opts.path || !(opts.length > 0) || !opts.url) throw new TypeError('swarmcast: bridge needs path, length and url')
      const base = baseURL(opts.base)
      this.infoHash = opts.infoHash.toLowerCase()
      this.path = opts.path
      this.length = opts.length
      this.url = opts.url
      this.maxBytes = opts.maxBytes >= 0 ? opts.maxBytes : bridgeMaxBytes
      this.streamURL = streamURLOf(base, this.infoHash, this.path)
      // originBytes counts what the origin sent through this bridge;
      // importedPieces, the pieces of it the engine took (once verified,
      // they are not fetched again).
      this.originBytes = 0
      this.importedPieces = 0
      this._kept = [] // {start, bytes}: what the origin sent, for the engine
      this.attached = false
      this._reserved = 0 // asked of the origin, not yet received
      this._originFailed = false
      this._attached = new Promise((resolve) => { this._attachResolve = resolve })
      if (streams.bridge) streams.bridge.close()
      streams.bridge = this
      this.ready = registerServiceWorker(base).catch(() => false)
    }

    // attach hands the bridge to client, whose engine has the torrent, and
    // gives the engine the bytes the origin sent (Torrent.Import: whole
    // pieces, verified against their hashes before they count).
    attach (client) {
      if (this.attached) return
      this.attached = true
      this._attachResolve(client)
      this._import(client).catch(() => {}) // a piece not taken is fetched as any other
    }

    async _import (client) {
      const kept = this._kept
      this._kept = []
      const t = client && client.torrents.get(this.infoHash)
      const f = t && t.files.find((f) => f.path === this.path)
      if (!f || !kept.length) return
      // Contiguous runs, in order: the engine takes only whole pieces.
      kept.sort((a, b) => a.start - b.start)
      const runs = []
      for (const k of kept) {
        const last = runs[runs.length - 1]
        const end = k.start + k.bytes.length
        if (last && k.start <= last.end) {
          if (end > last.end) {
            last.parts.push(k.bytes.subarray(last.end - k.start))
            last.end = end
          }
        } else {
          runs.push({ start: k.start, end, parts: [k.bytes] })
        }
      }
      for (const r of runs) {
        const buf = new Uint8Array(r.end - r.start)
        let at = 0
        for (const p of r.parts) { buf.set(p, at); at += p.length }
        this.importedPieces += await client._call('import', [this.infoHash, f.offset + r.start, buf], [buf.buffer])
      }
    }

    // close stops the bridge: streams waiting for an engine fail.
    close () {
      this.attach(null)
      if (streams.bridge === this) streams.bridge = null
    }

    _budget () { return Math.max(0, this.maxBytes - this.originBytes - this._reserved) }

    _serve (port) { return new BridgeStream(this, port) }
  }

  // BridgeStream answers one service worker stream request (sw.js's protocol:
  // info, open, pull, cancel) for a bridge: from the origin until the engine
  // is attached, then by relaying to an engine stream opened at the byte
  // reached. Messages are handled one at a time, in order.
  class BridgeStream {
    constructor (bridge, port) {
      this.b = bridge
      this.port = port
      this.want = null // {infoHash, path} of the request
      this.pos = 0
      this.end = 0
      this.origin = null // {reader, left, abort}: the origin response being read
      this.engine = null // PortAsk to the engine's stream
      this.closed = false
      let chain = Promise.resolve()
      port.onmessage = (ev) => {
        chain = chain.then(() => this._on(ev.data)).catch((err) => this._reply({ error: message(err), status: err.status || 502 }))
      }
    }

    _reply (m, transfer) { if (!this.closed) this.port.postMessage(m, transfer || []) }

    _mine () { return this.want && this.want.infoHash.toLowerCase() === this.b.infoHash && this.want.path === this.b.path }

    async _on (m) {
      if (this.closed) return
      switch (m.op) {
        case 'info':
          this.want = { infoHash: m.infoHash, path: m.path }
          if (this._mine()) return this._reply({ length: this.b.length })
          // Not the bridged file: only the engine knows it.
          await this._connect()
          return this._reply(await this.engine.ask(m))
        case 'open':
          this._dropOrigin()
          this.pos = m.start
          this.end = m.end
          if (this.engine) return this._reply(await this.engine.ask(m))
          return this._reply({ opened: true })
        case 'pull':
          return this._pull()
        case 'cancel':
          this.closed = true
          this._dropOrigin()
          if (this.engine) this.engine.close()
          this.port.close()
      }
    }

    async _pull () {
      if (!this.engine) {
        if (this.pos >= this.end) return this._reply({ done: true })
        if (!this.b.attached) {
          const chunk = await this._fromOrigin()
          if (chunk) {
            this.b._kept.push({ start: this.pos, bytes: chunk.slice() })
            this.pos += chunk.length
            return this._reply({ chunk }, [chunk.buffer])
          }
        }
        // The budget is spent, or the origin failed: the engine goes on.
        await this._connect()
        await this.engine.ask({ op: 'info', infoHash: this.want.infoHash, path: this.want.path })
        await this.engine.ask({ op: 'open', start: this.pos, end: this.end })
      }
      const r = await this.engine.ask({ op: 'pull' })
      if (r.chunk) {
        this.pos += r.chunk.length
        return this._reply(r, [r.chunk.buffer])
      }
      return this._reply(r)
    }

    // _connect waits for the engine and opens a stream to it.
    async _connect () {
      const client = await this.b._attached
      if (this.closed) throw new Error('cancelled')
      if (!client || client.destroyed) throw Object.assign(new Error('the swarmcast engine is not running'), { status: 503 })
      this._dropOrigin()
      const ch = new MessageChannel()
      client.worker.postMessage({ type: 'stream', port: ch.port2 }, [ch.port2])
      this.engine = new PortAsk(ch.port1)
    }

    // _fromOrigin returns the next bytes at pos from the origin, or null when
    // the bridge's budget is spent or the origin cannot serve.
    async _fromOrigin () {
      for (;;) {
        if (!this.origin) {
          const want = Math.min(this.end - this.pos, this.b._budget())
          if (want <= 0 || this.b._originFailed) return null
          const o = this.origin = { reader: null, left: want, abort: new AbortController() }
          this.b._reserved += want
          try {
            const res = await fetch(this.b.url, {
              headers: { Range: `bytes=${this.pos}-${this.pos + want - 1}` },
              signal: o.abort.signal,
              cache: 'no-store'
            })
            const cr = /^bytes (\d+)-/.exec(res.headers.get('Content-Range') || '')
            const ok = res.status === 206 ? (!cr || Number(cr[1]) === this.pos) : (res.status === 200 && this.pos === 0)
            if (!ok || !res.body) throw new Error(`the origin answered ${res.status} to a Range request`)
            o.reader = res.body.getReader()
          } catch (err) {
            this._dropOrigin()
            this.b._originFailed = true
            return null
          }
        }
        const o = this.origin
        let r
        try {
          r = await o.reader.read()
        } catch (err) {
          this._dropOrigin()
          this.b._originFailed = true
          return null
        }
        if (r.done || !r.value) {
          this._dropOrigin() // this range is done: another, if the budget allows
          continue
        }
        let chunk = r.value
        if (chunk.length > o.left) chunk = chunk.slice(0, o.left) // a 200 sends more than asked
        else if (chunk.byteOffset !== 0 || chunk.byteLength !== chunk.buffer.byteLength) chunk = chunk.slice()
        o.left -= chunk.length
        this.b._reserved -= chunk.length
        this.b.originBytes += chunk.length
        if (o.left === 0) this._dropOrigin()
        return chunk
      }
    }

    _dropOrigin () {
      const o = this.origin
      if (!o) return
      this.origin = null
      this.b._reserved -= o.left
      o.abort.abort()
    }
  }

  class Torrent extends Emitter {
    constructor (client, info) {
      super()
      this._client = client
      this.infoHash = info.infoHash
      this.name = info.name
      this.length = info.length
      this.magnetURI = info.magnetURI
      this.files = info.files.map((f) => ({
        path: f.path,
        name: f.name,
        length: f.length,
        offset: f.offset,
        streamURL: streamURLOf(client.base, info.infoHash, f.path)
      }))
      this.done = false
      this._timer = setInterval(() => this._tick(), statsEveryMs)
    }

    // stats resolves with {progress, downloaded, uploaded, downloadSpeed,
    // uploadSpeed, peers, peersByKind: {webrtc, webseed}, bytesFromPeers,
    // bytesFromOrigin, done}.
    async stats () {
      return JSON.parse(await this._client._call('stats', [this.infoHash]))
    }

    async _tick () {
      let s
      try {
        s = await this.stats()
      } catch (err) {
        if (!this._client.destroyed) this.emit('error', new Error(message(err)))
        return
      }
      if (s.error) this.emit('error', new Error(s.error))
      this.emit('progress', s)
      if (s.done && !this.done) {
        this.done = true
        this.emit('done', s)
      }
    }

    async destroy () {
      clearInterval(this._timer)
      this._client.torrents.delete(this.infoHash)
      await this._client._call('remove', [this.infoHash])
    }

    _stop () { clearInterval(this._timer) }
  }

  class Client extends Emitter {
    constructor (opts) {
      super()
      this.base = baseURL(opts.base)
      this.iceServers = opts.iceServers || []
      this.torrents = new Map()
      this.destroyed = false
      this._nextReq = 1
      this._calls = new Map()
      this._pcs = new Map()
      this._nextPC = 1
      this.worker = new Worker(this.base + 'worker.js')
      this.worker.onmessage = (ev) => this._onWorker(ev.data)
      this.worker.onerror = (ev) => this._fatal(ev.message || 'the engine worker failed')
      this._offerPool = [] // {id, sdp: Promise}: offers made before the engine asked
      this._fillOfferPool()
      this._loaded = new Promise((resolve, reject) => { this._loadedResolve = resolve; this._loadedReject = reject })
      this.ready = this._start(opts)
    }

    async _start (opts) {
      const sw = opts.serviceWorker !== false ? this._registerSW() : Promise.resolve()
      const started = await this._call('start', [JSON.stringify({
        trackers: opts.trackers || [],
        storage: opts.storage || '',
        memoryCap: opts.memoryCap || 0,
        debug: !!opts.debug
      })])
      // Where downloads are kept: 'opfs', or 'memory' where the browser has no OPFS.
      this.storage = JSON.parse(started).storage
      await sw
      return this
    }

    async _registerSW () {
      const sw = global.navigator && global.navigator.serviceWorker
      if (!sw) return
      streams.clients.add(this)
      let controls
      try {
        controls = await registerServiceWorker(this.base)
      } catch (err) {
        this.emit('error', new Error('service worker not registered, so streamURL will not work: ' + message(err)))
        return
      }
      if (!controls) this.emit('error', new Error('the service worker does not control this page yet, so streamURL will not work until it is reloaded'))
    }

    _call (method, args, transfer) {
      if (this.destroyed && method !== 'destroy') return Promise.reject(new Error('swarmcast: the client is destroyed'))
      return new Promise((resolve, reject) => {
        const req = this._nextReq++
        this._calls.set(req, { resolve, reject })
        this.worker.postMessage({ type: 'call', req, method, args }, transfer || [])
      })
    }

    _fatal (error) {
      const err = new Error('swarmcast engine: ' + error)
      for (const c of this._calls.values()) c.reject(err)
      this._calls.clear()
      // The engine ends after destroy; that is no error.
      if (!this.destroyed && !this._destroying) this.emit('error', err)
    }

    _onWorker (m) {
      switch (m.type) {
        case 'reply': {
          const c = this._calls.get(m.req)
          if (!c) return
          this._calls.delete(m.req)
          if (m.ok) c.resolve(m.value)
          else c.reject(new Error(m.error))
          return
        }
        case 'rtc':
          this._rtc(m).then(
            (value) => this.worker.postMessage({ type: 'rtc-reply', req: m.req, ok: true, value }),
            (err) => this.worker.postMessage({ type: 'rtc-reply', req: m.req, ok: false, error: message(err) }))
          return
        case 'rtc-close': {
          const pc = this._pcs.get(m.id)
          this._pcs.delete(m.id)
          if (pc) pc.close()
          return
        }
        case 'loaded':
          // wasmMs: from the worker's start to the engine's module compiled and
          // instantiated; loadedAt: when that was, on the page's clock.
          this.wasmMs = m.ms
          this.loadedAt = global.performance ? global.performance.now() : 0
          return
        case 'fatal':
          this._fatal(m.error)
      }
    }

    // _newPC makes a peer connection the worker knows by id, and tells the
    // worker when it fails or closes.
    _newPC () {
      const id = this._nextPC++
      const pc = new RTCPeerConnection({ iceServers: this.iceServers })
      this._pcs.set(id, pc)
      pc.addEventListener('connectionstatechange', () => {
        if (pc.connectionState === 'failed' || pc.connectionState === 'closed') {
          this.worker.postMessage({ type: 'rtc-failed', id })
          this._pcs.delete(id)
          if (pc.connectionState === 'failed') pc.close()
        }
      })
      return { id, pc }
    }

    // _makeOffer makes a peer connection with one data channel, given to the
    // worker at once, and returns its id and a promise of its offer's SDP
    // once ICE gathering is complete (or gatherMs has passed).
    _makeOffer (gatherMs) {
      const { id, pc } = this._newPC()
      // simple-peer names the channel with random hex; WebTorrent takes any.
      const label = [...crypto.getRandomValues(new Uint8Array(20))].map((b) => b.toString(16).padStart(2, '0')).join('')
      this._give(id, pc.createDataChannel(label))
      const sdp = (async () => {
        await pc.setLocalDescription(await pc.createOffer())
        await waitGathering(pc, gatherMs)
        return pc.localDescription.sdp
      })()
      sdp.catch(() => {}) // a pooled offer may fail before anyone waits for it
      return { id, sdp }
    }

    // _fillOfferPool makes the first offers while the engine loads (see
    // offerPoolSize).
    _fillOfferPool () {
      if (typeof RTCPeerConnection === 'undefined') return
      try {
        for (let i = 0; i < offerPoolSize; i++) this._offerPool.push(this._makeOffer(gatherCapMs))
      } catch (err) {
        return // the engine makes its own when it asks
      }
      this._offerPoolTimer = setTimeout(() => {
        for (const o of this._offerPool.splice(0)) this._closePC(o.id)
      }, offerPoolMs)
    }

    // _give transfers a data channel to the worker. It must run in the task
    // that created the channel (createDataChannel or the datachannel event).
    _give (id, channel) {
      this.worker.postMessage({ type: 'rtc-channel', id, channel }, [channel])
    }

    async _rtc (m) {
      if (m.op === 'offer') {
        const o = this._offerPool.shift() || this._makeOffer(m.gatherMs)
        try {
          return { id: o.id, sdp: await o.sdp }
        } catch (err) {
          this._closePC(o.id)
          throw err
        }
      }
      if (m.op === 'answer') {
        const { id, pc } = this._newPC()
        try {
          pc.addEventListener('datachannel', (ev) => this._give(id, ev.channel), { once: true })
          await pc.setRemoteDescription({ type: 'offer', sdp: m.sdp })
          await pc.setLocalDescription(await pc.createAnswer())
          await waitGathering(pc, m.gatherMs)
          return { id, sdp: pc.localDescription.sdp }
        } catch (err) {
          this._closePC(id)
          throw err
        }
      }
      if (m.op === 'accept') {
        const pc = this._pcs.get(m.id)
        if (!pc) throw new Error('no such peer connection')
        await pc.setRemoteDescription({ type: 'answer', sdp: m.sdp })
        return null
      }
      throw new Error('unknown rtc request ' + m.op)
    }

    _closePC (id) {
      const pc = this._pcs.get(id)
      this._pcs.delete(id)
      if (pc) pc.close()
      this.worker.postMessage({ type: 'rtc-failed', id })
    }

    // add adds a torrent: a magnet link, a .torrent's URL, or its bytes
    // (Uint8Array or ArrayBuffer). It resolves once the torrent's info is
    // known. opts.webSeeds adds web seeds (BEP 19 URLs of the origin);
    // opts.trackers adds trackers.
    async add (source, opts = {}) {
      await this.ready
      let arg = source
      if (typeof source === 'string' && !/^magnet:/i.test(source)) {
        const url = new URL(source, global.location.href).href
        const res = await fetch(url)
        if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}`)
        arg = new Uint8Array(await res.arrayBuffer())
      } else if (source instanceof ArrayBuffer) {
        arg = new Uint8Array(source)
      } else if (typeof source !== 'string' && !(source instanceof Uint8Array)) {
        throw new TypeError('swarmcast: add takes a magnet link, a .torrent URL or its bytes')
      }
      const o = JSON.stringify({ webSeeds: opts.webSeeds || [], trackers: opts.trackers || [] })
      const infoHash = await this._call('add', [arg, o])
      return this._torrent(infoHash)
    }

    async _torrent (infoHash) {
      const have = this.torrents.get(infoHash)
      if (have) return have
      const info = JSON.parse(await this._call('info', [infoHash]))
      if (this.torrents.has(infoHash)) return this.torrents.get(infoHash)
      const t = new Torrent(this, info)
      this.torrents.set(infoHash, t)
      return t
    }

    // seed makes a torrent of a File or Blob and seeds it from there (the
    // engine reads pieces from the Blob as peers ask). opts.name names it
    // (default: the File's name); opts.trackers adds trackers.
    async seed (blob, opts = {}) {
      await this.ready
      if (!(blob instanceof Blob)) throw new TypeError('swarmcast: seed takes a File or a Blob')
      const name = opts.name || blob.name
      if (!name) throw new TypeError('swarmcast: seeding a Blob needs opts.name')
      const info = JSON.parse(await this._call('seed', [blob, name, JSON.stringify({ trackers: opts.trackers || [] })]))
      return this._torrent(info.infoHash)
    }

    // memory resolves with the bytes of the engine's WebAssembly memory,
    // which grows and never shrinks: its peak.
    memory () { return this._call('memory', []) }

    async destroy () {
      if (this.destroyed) return
      this._destroying = true
      try { await this._call('destroy', []) } catch (err) { /* the worker ends anyway */ }
      this.destroyed = true
      clearTimeout(this._offerPoolTimer)
      this._offerPool = []
      for (const t of this.torrents.values()) t._stop()
      for (const pc of this._pcs.values()) pc.close()
      this._pcs.clear()
      this.worker.terminate()
      streams.clients.delete(this)
    }
  }

  // start starts a client and resolves when its engine is ready. Options:
  // trackers (ws:// and wss:// URLs), iceServers (for RTCPeerConnection),
  // storage ('opfs', 'memory', or by default OPFS where the browser has it),
  // memoryCap (bytes held in memory without OPFS; default 512 MiB),
  // base (where swarmcast.wasm, worker.js and sw.js live; default this
  // script's folder), serviceWorker (register sw.js for streamURL; default
  // true), debug (the engine logs to the worker's console).
  async function start (opts = {}) {
    const c = new Client(opts)
    await c.ready
    return c
  }

  // bridge starts an origin bridge (see Bridge) for a video's first frames.
  function bridge (opts) { return new Bridge(opts) }

  global.Swarmcast = { start, bridge, registerServiceWorker, Client, Torrent, Bridge }
})(typeof window !== 'undefined' ? window : globalThis)
