// swarmcast watch page: plays the largest video of a torrent in the browser
// with the swarmcast engine (WebAssembly in a Web Worker, streamed by the
// service worker) and shows where its bytes came from.
//
//   watch.html?torrent=URL       a .torrent URL (or a magnet link)
//     &tracker=ws://...          more WebSocket trackers (repeatable)
//     &stun=stun:host:port       ICE servers (repeatable)
//     &bridge=BYTES              how much of the video the page may take from the origin (the web
//                                seed) while the engine loads (default 512 KiB; 0: none, the first
//                                frame waits for the engine). The player's stream URL is answered
//                                from the origin until the engine takes over, in the same response.
//     &direct=1                  instead, play the origin's URL itself while the engine loads, then
//                                switch the player to the engine's stream. Chromium buffers a whole
//                                short video from a fast origin before the switch (3 tabs of the
//                                demo cost the origin 3.8 copies).
//     &enginedelay=MS            start the engine MS after the page (to see, or test, the bridge at
//                                work); by default it starts with the page, beside the torrent's fetch
//     &muted=0                   start with sound (browsers may then refuse autoplay)
//
// window.swarmcastStats is kept current for tests and the curious; times are
// in ms since navigation start (performance.now()).
'use strict';

(() => {
  const stats = window.swarmcastStats = {
    ready: false, wasmMs: null, firstFrameMs: null, done: false, doneMs: null,
    bytesFromPeers: 0, bytesFromOrigin: 0, uploaded: 0, stalls: 0, error: null,
    // More than the contract: for the page and for tests.
    longestStallMs: 0, playingFrom: null, handoverMs: null, infoMs: null, streamURL: null, originURL: null,
    // When the page started the engine, and when its WebAssembly was compiled and instantiated.
    engineStartMs: null, wasmLoadedMs: null,
    bridgeBytes: 0, bridgePieces: 0,
    progress: 0, downloadSpeed: 0, uploadSpeed: 0, peers: 0, peersByKind: {},
  };
  const params = new URLSearchParams(location.search);
  // controllerWaitMs bounds the wait for the service worker to take control on a first visit.
  const controllerWaitMs = 10000;
  const source = params.get('torrent');
  const $ = (id) => document.getElementById(id);
  const video = $('video');
  const status = (text) => { $('status').textContent = text; };
  const fail = (what, err) => {
    const msg = what + ': ' + (err && err.message ? err.message : String(err));
    if (!stats.error) stats.error = msg;
    status(msg);
  };
  video.muted = params.get('muted') !== '0';

  // Playback: first frame, stalls (a wait for data while playing, seeks
  // excepted: those are counted by the player as seeks, not stalls).
  let stallStart = null;
  const endStall = () => {
    if (stallStart === null) return;
    stats.longestStallMs = Math.max(stats.longestStallMs, Math.round(performance.now() - stallStart));
    stallStart = null;
  };
  const firstFrame = () => {
    if (stats.firstFrameMs === null) stats.firstFrameMs = Math.round(performance.now());
  };
  if (video.requestVideoFrameCallback) video.requestVideoFrameCallback(firstFrame);
  else video.addEventListener('playing', firstFrame, { once: true });
  video.addEventListener('waiting', () => {
    if (stats.firstFrameMs === null || video.seeking || stallStart !== null) return;
    stats.stalls++;
    stallStart = performance.now();
  });
  for (const ev of ['playing', 'timeupdate', 'seeking', 'pause']) {
    video.addEventListener(ev, () => { if (ev !== 'timeupdate' || video.readyState >= 3) endStall(); });
  }

  // A minimal bencode reader: enough to find a .torrent's files and web
  // seeds before the engine has loaded, so the first frames can come from
  // the origin at once.
  function bdecode(buf) {
    let i = 0, infoSpan = null;
    const td = new TextDecoder();
    const bad = () => { throw new Error('not a .torrent file (bad bencode at byte ' + i + ')'); };
    const digits = (end) => {
      let s = '';
      while (buf[i] !== end) { if (i >= buf.length || s.length > 20) bad(); s += String.fromCharCode(buf[i++]); }
      i++;
      if (!/^-?\d+$/.test(s)) bad();
      return Number(s);
    };
    const str = () => {
      const n = digits(0x3a);
      if (n < 0 || i + n > buf.length) bad();
      i += n;
      return buf.subarray(i - n, i);
    };
    const val = (depth) => {
      if (depth > 32 || i >= buf.length) bad();
      const c = buf[i];
      if (c === 0x69) { i++; return digits(0x65); }
      if (c === 0x6c || c === 0x64) {
        i++;
        const list = [], dict = Object.create(null);
        while (buf[i] !== 0x65) {
          if (i >= buf.length) bad();
          if (c === 0x6c) list.push(val(depth + 1));
          else {
            const k = td.decode(str()), at = i;
            dict[k] = val(depth + 1);
            if (depth === 0 && k === 'info') infoSpan = [at, i];
          }
        }
        i++;
        return c === 0x6c ? list : dict;
      }
      return str();
    };
    const v = val(0);
    return { value: v, infoSpan };
  }

  const text = (b) => (b instanceof Uint8Array ? new TextDecoder().decode(b) : '');
  const isVideo = (p) => /\.(webm|mp4|m4v|mkv|mov|ogv|ogg)$/i.test(p);
  const largestVideo = (files) => {
    const pool = files.some((f) => isVideo(f.path)) ? files.filter((f) => isVideo(f.path)) : files;
    return pool.reduce((a, b) => (b.length > a.length ? b : a), pool[0]);
  };

  // describe returns {name, files: [{path, length}], webSeeds, multi, infoSpan} of a .torrent;
  // infoSpan is where its info dictionary lies in bytes (its SHA-1 is the info hash).
  function describe(bytes) {
    const { value: mi, infoSpan } = bdecode(bytes);
    const info = mi && mi.info;
    if (!info || typeof info !== 'object') throw new Error('not a .torrent file (no info)');
    const name = text(info['name.utf-8'] || info.name);
    const files = Array.isArray(info.files)
      ? info.files.map((f) => ({ path: [name, ...(f['path.utf-8'] || f.path).map(text)].join('/'), length: f.length }))
      : [{ path: name, length: info.length }];
    let urls = mi['url-list'] || [];
    if (!Array.isArray(urls)) urls = [urls];
    return { name, files, webSeeds: urls.map(text).filter((u) => /^https?:/.test(u)), multi: Array.isArray(info.files), infoSpan };
  }

  // originURL is where a web seed (BEP 19) keeps a file.
  function originURL(seed, path, multi) {
    const enc = path.split('/').map(encodeURIComponent).join('/');
    if (!multi && !seed.endsWith('/')) return seed;
    return seed.replace(/\/?$/, '/') + enc;
  }

  function showPlaying() {
    $('playing').textContent = stats.playingFrom === 'engine' ? 'the swarm (service worker)' : 'the origin, until the engine is ready';
  }

  // infoHashOf returns the hex SHA-1 of a .torrent's info dictionary.
  async function infoHashOf(bytes, span) {
    const d = new Uint8Array(await crypto.subtle.digest('SHA-1', bytes.subarray(span[0], span[1])));
    return [...d].map((b) => b.toString(16).padStart(2, '0')).join('');
  }

  function playFrom(url, kind) {
    const at = video.currentTime, playing = stats.firstFrameMs !== null && !video.paused;
    stats.playingFrom = kind;
    if (kind === 'origin') stats.originURL = url; else stats.streamURL = url;
    showPlaying();
    video.src = url;
    if (at > 0) {
      video.addEventListener('loadedmetadata', () => { video.currentTime = at; }, { once: true });
    }
    if (playing || video.autoplay) video.play().catch(() => {});
  }

  const fmtBytes = (n) => {
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i ? n.toFixed(1) : Math.round(n)) + ' ' + units[i];
  };

  function show() {
    const total = stats.bytesFromPeers + stats.bytesFromOrigin;
    const share = total ? stats.bytesFromPeers / total : 0;
    $('barpeers').style.width = (share * 100).toFixed(1) + '%';
    $('barorigin').style.width = (total ? (1 - share) * 100 : 0).toFixed(1) + '%';
    $('frompeers').textContent = fmtBytes(stats.bytesFromPeers) + (total ? ' (' + Math.round(share * 100) + '%)' : '');
    $('fromorigin').textContent = fmtBytes(stats.bytesFromOrigin) + (total ? ' (' + Math.round((1 - share) * 100) + '%)' : '');
    $('uploaded').textContent = fmtBytes(stats.uploaded);
    $('progress').textContent = (stats.progress * 100).toFixed(1) + '%' + (stats.done ? ' (done in ' + (stats.doneMs / 1000).toFixed(1) + ' s)' : '');
    $('down').textContent = fmtBytes(stats.downloadSpeed) + '/s';
    $('up').textContent = fmtBytes(stats.uploadSpeed) + '/s';
    const kinds = Object.entries(stats.peersByKind).filter(([, n]) => n).map(([k, n]) => n + ' ' + k);
    $('peers').textContent = stats.peers + (kinds.length ? ' (' + kinds.join(', ') + ')' : '');
  }

  async function main() {
    if (!source) {
      status('Give a torrent: watch.html?torrent=URL of a .torrent file, or a magnet link.');
      return;
    }
    // 1. What the torrent holds, and the first frames from the origin.
    const base = new URL('.', location.href).pathname;
    const bridgeBytes = params.has('bridge') ? Number(params.get('bridge')) : -1;
    const direct = params.get('direct') === '1';
    // The service worker is registered at once, so that on a first visit it controls the page by
    // the time the torrent is read.
    if (!direct && bridgeBytes !== 0 && window.Swarmcast && window.Swarmcast.registerServiceWorker) {
      window.Swarmcast.registerServiceWorker(base).catch(() => {});
    }
    // The engine starts now too, unless held back: its WebAssembly compiles in the worker while the
    // torrent is fetched and the first frames come from the origin (in a busy browser the compile
    // takes seconds, and reading the torrent hundreds of ms).
    const delay = Number(params.get('enginedelay')) || 0;
    const startEngine = () => {
      if (typeof window.Swarmcast === 'undefined') return Promise.reject(new Error('swarmcast.js did not load'));
      stats.engineStartMs = Math.round(performance.now());
      return window.Swarmcast.start({
        trackers: params.getAll('tracker'),
        iceServers: params.getAll('stun').map((u) => ({ urls: u })),
        base,
        serviceWorker: true,
        // ?debug=1: the engine logs its work to the worker's console.
        debug: params.get('debug') === '1',
      });
    };
    let engine = delay > 0 ? null : startEngine();
    if (engine) engine.catch(() => {}); // awaited below
    let bytes = null, desc = null, bridge = null;
    if (/^magnet:/i.test(source)) {
      const m = new URLSearchParams(source.slice(source.indexOf('?') + 1));
      const dn = m.get('dn') || '', ws = m.getAll('ws');
      if (ws.length && isVideo(dn)) desc = { name: dn, files: [{ path: dn, length: 0 }], webSeeds: ws, multi: false };
    } else {
      const resp = await fetch(source);
      if (!resp.ok) throw new Error('fetching ' + source + ': ' + resp.status + ' ' + resp.statusText);
      bytes = new Uint8Array(await resp.arrayBuffer());
      desc = describe(bytes);
      stats.infoMs = Math.round(performance.now());
    }
    let want = null;
    if (desc) {
      want = largestVideo(desc.files);
      document.title = want.path.split('/').pop() + ' – swarmcast';
      $('title').textContent = want.path.split('/').pop();
      if (desc.webSeeds.length) stats.originURL = originURL(desc.webSeeds[0], want.path, desc.multi);
      if (direct && desc.webSeeds.length && stats.playingFrom === null) {
        playFrom(originURL(desc.webSeeds[0], want.path, desc.multi), 'origin');
      } else if (bridgeBytes !== 0 && desc.webSeeds.length && desc.infoSpan && want.length > 0 &&
          window.Swarmcast && window.Swarmcast.bridge && window.crypto && crypto.subtle) {
        try {
          bridge = window.Swarmcast.bridge({
            base, infoHash: await infoHashOf(bytes, desc.infoSpan), path: want.path, length: want.length,
            url: originURL(desc.webSeeds[0], want.path, desc.multi), maxBytes: bridgeBytes > 0 ? bridgeBytes : undefined,
          });
          // Not awaited: the engine starts meanwhile.
          bridge.ready.then((controls) => {
            if (controls && !bridge.attached && stats.playingFrom === null) playFrom(bridge.streamURL, 'bridge');
          });
        } catch (err) {
          bridge = null;
        }
      }
    }
    if (delay > 0) {
      await new Promise((r) => setTimeout(r, delay));
      engine = startEngine();
    }
    // 2. The engine.
    status('Starting the engine…');
    const client = await engine;
    stats.ready = true;
    stats.wasmMs = Math.round(performance.now());
    stats.wasmLoadedMs = client.loadedAt ? Math.round(client.loadedAt) : null;
    client.on('error', (err) => fail('engine', err));
    status('Fetching the torrent\'s metadata…');
    const torrent = await client.add(bytes || source);
    torrent.on('error', (err) => fail('torrent', err));
    const markDone = () => {
      if (!stats.done) { stats.done = true; stats.doneMs = Math.round(performance.now()); }
    };
    torrent.on('done', markDone);
    const file = torrent.files.find((f) => want && f.path === want.path) || largestVideo(torrent.files);
    $('title').textContent = file.name;
    // 3. Hand the player to the engine's stream, which only the service worker answers: on a first
    // visit it may not control the page yet (clients.claim is on its way).
    const sw = navigator.serviceWorker;
    if (sw && !sw.controller) {
      status('Waiting for the service worker…');
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, controllerWaitMs);
        sw.addEventListener('controllerchange', () => { clearTimeout(timer); resolve(); }, { once: true });
      });
    }
    if (bridge) bridge.attach(client);
    stats.handoverMs = Math.round(performance.now());
    if (stats.playingFrom === 'bridge' && file.streamURL === stats.streamURL) {
      // The player goes on in the same response, from the engine.
      stats.playingFrom = 'engine';
      showPlaying();
    } else if (sw && sw.controller) {
      playFrom(file.streamURL, 'engine');
    } else if (desc && desc.webSeeds.length) {
      fail('streaming', new Error('the service worker does not control this page; playing from the origin (reload to stream from the swarm)'));
      if (stats.playingFrom !== 'origin') playFrom(originURL(desc.webSeeds[0], file.path, desc.multi), 'origin');
    } else {
      throw new Error('the service worker does not control this page: reload it');
    }
    video.addEventListener('error', () => {
      if (stats.playingFrom === 'engine' && desc && desc.webSeeds.length) {
        fail('playing from the engine', video.error && video.error.message ? video.error.message : 'media error ' + (video.error && video.error.code));
        playFrom(originURL(desc.webSeeds[0], file.path, desc.multi), 'origin');
      }
    });
    status('Playing ' + file.name);
    for (;;) {
      try {
        const s = await torrent.stats();
        Object.assign(stats, {
          bytesFromPeers: s.bytesFromPeers, bytesFromOrigin: s.bytesFromOrigin + (bridge ? bridge.originBytes : 0),
          bridgeBytes: bridge ? bridge.originBytes : 0, bridgePieces: bridge ? bridge.importedPieces : 0, uploaded: s.uploaded,
          progress: s.progress, downloadSpeed: s.downloadSpeed, uploadSpeed: s.uploadSpeed,
          peers: s.peers, peersByKind: s.peersByKind || {},
        });
        if (s.done) markDone();
        show();
      } catch (err) {
        fail('stats', err);
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  main().catch((err) => fail('cannot play', err));
})();
