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
// this page, which hands the request's port to the worker.
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
        streamURL: client.base + 'webtorrent/' + info.infoHash + '/' + escapePath(f.path)
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
      const base = opts.base || scriptBase || '/'
      this.base = new URL(base, global.location.href).href
      if (!this.base.endsWith('/')) this.base += '/'
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
      this._onSW = (ev) => {
        if (ev.data && ev.data.type === 'swarmcast-stream' && ev.ports[0] && !this.destroyed) {
          this.worker.postMessage({ type: 'stream', port: ev.ports[0] }, [ev.ports[0]])
        }
      }
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
      sw.addEventListener('message', this._onSW)
      try {
        await sw.register(this.base + 'sw.js', { scope: this.base })
      } catch (err) {
        this.emit('error', new Error('service worker not registered, so streamURL will not work: ' + message(err)))
        return
      }
      if (sw.controller) return
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, controllerWaitMs)
        sw.addEventListener('controllerchange', () => { clearTimeout(timer); resolve() }, { once: true })
      })
      if (!sw.controller) this.emit('error', new Error('the service worker does not control this page yet, so streamURL will not work until it is reloaded'))
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
          this.wasmMs = m.ms
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

    // _give transfers a data channel to the worker. It must run in the task
    // that created the channel (createDataChannel or the datachannel event).
    _give (id, channel) {
      this.worker.postMessage({ type: 'rtc-channel', id, channel }, [channel])
    }

    async _rtc (m) {
      if (m.op === 'offer') {
        const { id, pc } = this._newPC()
        try {
          // simple-peer names the channel with random hex; WebTorrent takes any.
          const label = [...crypto.getRandomValues(new Uint8Array(20))].map((b) => b.toString(16).padStart(2, '0')).join('')
          this._give(id, pc.createDataChannel(label))
          await pc.setLocalDescription(await pc.createOffer())
          await waitGathering(pc, m.gatherMs)
          return { id, sdp: pc.localDescription.sdp }
        } catch (err) {
          this._closePC(id)
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
      for (const t of this.torrents.values()) t._stop()
      for (const pc of this._pcs.values()) pc.close()
      this._pcs.clear()
      this.worker.terminate()
      const sw = global.navigator && global.navigator.serviceWorker
      if (sw) sw.removeEventListener('message', this._onSW)
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

  global.Swarmcast = { start, Client, Torrent }
})(typeof window !== 'undefined' ? window : globalThis)
