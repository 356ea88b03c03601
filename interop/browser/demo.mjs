// demo.mjs opens swarmcast's watch page (what `swarmcast demo` prints) in several tabs of headless
// Chromium (apt `chromium`, driven by npm `playwright-core`) and reports what each viewer saw: when the
// engine was ready, the first frame, how long the video played and its longest stall, when the download
// was done, and its bytes by source (window.swarmcastStats, kept by the watch page).
//
//   node browser/demo.mjs URL [--tabs N] [--gap MS] [--play SECONDS] [--seek FRACTION]
//                         [--ranges N] [--wait-done] [--bridge-check] [--contexts] [--timeout SECONDS] [--chromium PATH]
//
//   --tabs N         tabs to open (default 3), --gap MS apart (default 3000)
//   --play SECONDS   media time each tab must play from its first frame (default 8)
//   --seek FRACTION  then, in the first tab, seek to FRACTION of the duration and time the resume
//   --ranges N       then, in the first tab, fetch N random byte ranges of the file from the service
//                    worker's stream URL and from the origin, and compare their SHA-256 in the page
//   --wait-done      then wait for every tab's download to finish (default: report what is there)
//   --bridge-check   in the first tab, as soon as the page plays from its origin bridge (before its
//                    engine is ready), fetch the whole file from the stream URL, which the bridge
//                    answers from the origin and then the engine, and compare its SHA-256 with the
//                    origin's (use with ?enginedelay=MS so that the engine is surely not ready)
//   --contexts       one browser context per tab (separate viewers) instead of tabs of one browser
//   --query K=V      add K=V to the watch page's query (repeatable; e.g. direct=1, or debug=1 for
//                    the engine's log in its worker's console)
//   --console        print every console message of each tab and its workers to stderr as it comes
//   --cpu            report where the machine's CPU went from the first tab's navigation to the last
//                    tab's done (or the end of the run): the machine's busy share (/proc/stat) and the
//                    browser's CPU seconds by kind of thread (Linux only; result.cpu)
//   --webtorrent PAGE  open PAGE (bench/flashcrowd/wt-watch.html: WebTorrent's browser bundle doing the
//                    watch page's job, with the same swarmcastStats) instead, served from a server of
//                    this script's own with webtorrent.min.js and sw.min.js from interop/node_modules,
//                    on the same ?torrent= as URL
//
// Each tab's clock is its own page's (performance.now(), ms since its navigation began). Prints one
// JSON line per tab as it finishes playing ({"event":"tab",...}) and a last one {"event":"result",
// "ok":true|false,...}. Exit status: 0 when ok, 1 when a step failed, 2 on bad usage.
import fs from 'node:fs'
import http from 'node:http'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright-core'
import * as cpu from './cpu.mjs'

const argv = process.argv.slice(2)
const opt = { url: null, query: [], console: false, cpu: false, webtorrent: null, tabs: 3, gap: 3000, play: 8, seek: 0, ranges: 0, bridgeCheck: false, waitDone: false, contexts: false, timeout: 120, chromium: process.env.CHROMIUM || '/usr/bin/chromium' }
for (let i = 0; i < argv.length; i++) {
  switch (argv[i]) {
    case '--tabs': opt.tabs = Number(argv[++i]); break
    case '--gap': opt.gap = Number(argv[++i]); break
    case '--play': opt.play = Number(argv[++i]); break
    case '--seek': opt.seek = Number(argv[++i]); break
    case '--ranges': opt.ranges = Number(argv[++i]); break
    case '--wait-done': opt.waitDone = true; break
    case '--bridge-check': opt.bridgeCheck = true; break
    case '--contexts': opt.contexts = true; break
    case '--query': opt.query.push(argv[++i]); break
    case '--console': opt.console = true; break
    case '--cpu': opt.cpu = true; break
    case '--webtorrent': opt.webtorrent = argv[++i]; break
    case '--timeout': opt.timeout = Number(argv[++i]); break
    case '--chromium': opt.chromium = argv[++i]; break
    default:
      if (opt.url === null && !argv[i].startsWith('--')) opt.url = argv[i]
      else usage(`unknown argument ${argv[i]}`)
  }
}
if (!opt.url) usage('give the watch page URL')
if (!(opt.tabs >= 1) || !(opt.gap >= 0) || !(opt.play > 0) || !(opt.timeout > 0) || !(opt.seek >= 0 && opt.seek < 1)) usage('bad number')

function usage (msg) {
  process.stderr.write(`demo.mjs: ${msg}\nusage: node browser/demo.mjs URL [--tabs N] [--gap MS] [--play SECONDS] [--seek FRACTION] [--ranges N] [--wait-done] [--contexts] [--query K=V] [--console] [--cpu] [--timeout SECONDS]\n`)
  process.exit(2)
}

const started = Date.now()
const note = (msg) => process.stderr.write(`demo.mjs: ${((Date.now() - started) / 1000).toFixed(1)}s ${msg}\n`)
const print = (o) => process.stdout.write(JSON.stringify(o) + '\n')
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const deadline = started + opt.timeout * 1000
const result = { event: 'result', ok: false, step: 'launch', tabs: [] }
let browser = null
let finished = false
let liveTabs = []

async function finish (err) {
  if (finished) return
  finished = true
  if (err) {
    result.error = String(err && err.stack ? err.stack : err)
    // What each tab showed last, for the failure's story.
    result.tabsAtFailure = liveTabs.filter(Boolean).map((t) => ({ i: t.i, openedAt: t.openedAt, last: t.last, error: t.error || null, console: t.console }))
  }
  clearTimeout(killer)
  print(result)
  try { if (browser) await browser.close() } catch {}
  process.exit(result.ok ? 0 : 1)
}
const killer = setTimeout(() => finish(new Error(`timed out after ${opt.timeout} s at step ${result.step}`)), opt.timeout * 1000 + 5000)
process.on('SIGINT', () => finish(new Error('interrupted')))
process.on('SIGTERM', () => finish(new Error('terminated')))

// watchTab follows one tab until its video has played opt.play seconds of media time from its first
// frame. A stall is wall time in which currentTime did not move while the video was not paused, not
// seeking and not ended; sampled every 50 ms beside the page's own count.
async function watchTab (tab) {
  const { page } = tab
  let last = null; let lastMove = null; let longest = 0; let firstT = null
  for (;;) {
    if (Date.now() > deadline) throw new Error(`tab ${tab.i}: played ${last ? last.t.toFixed(2) : '-'} s of media before the deadline`)
    const s = await page.evaluate(() => {
      const v = document.getElementById('video')
      // The tab is watched from the navigation's commit, so the page may not have parsed its body yet.
      if (!v) return null
      const st = window.swarmcastStats || {}
      return { now: performance.now(), t: v.currentTime, paused: v.paused, ended: v.ended, seeking: v.seeking, rs: v.readyState, duration: v.duration, stats: JSON.parse(JSON.stringify(st)) }
    })
    if (s === null) { await sleep(50); continue }
    tab.last = s
    if (s.stats.error && !tab.error) { tab.error = s.stats.error; note(`tab ${tab.i}: page error: ${s.stats.error}`) }
    if (s.stats.firstFrameMs != null) {
      if (firstT === null) { firstT = s.t; lastMove = s.now }
      if (last && s.t !== last.t) lastMove = s.now
      if (!s.paused && !s.ended && !s.seeking) longest = Math.max(longest, s.now - lastMove)
      if (s.paused && s.t === last?.t) {
        // Autoplay refused or a pause after a source change: play again, as a viewer would.
        await page.evaluate(() => document.getElementById('video').play().catch(() => {}))
      }
      if (s.t - firstT >= opt.play || s.ended) {
        tab.played = { fromTime: firstT, toTime: s.t, longestNoProgressMs: Math.round(longest), duration: s.duration }
        tab.stats = s.stats
        return
      }
    }
    last = s
    await sleep(50)
  }
}

async function openTab (i) {
  const ctx = opt.contexts || !browser.__ctx ? await browser.newContext() : browser.__ctx
  if (!opt.contexts) browser.__ctx = ctx
  const page = await ctx.newPage()
  const tab = { i, page, openedAt: Date.now() - started, navStart: Date.now(), console: [], last: null }
  page.on('console', (m) => { if (tab.console.length < 50) tab.console.push(`${m.type()}: ${m.text()}`) })
  if (opt.console) {
    const echo = (from) => (m) => note(`tab ${i} ${from} ${m.type()}: ${m.text()}`)
    page.on('console', echo('page'))
    page.on('worker', (w) => w.on('console', echo('worker')))
  }
  page.on('pageerror', (e) => { if (tab.console.length < 50) tab.console.push(`pageerror: ${e.message}`) })
  tab.navigated = page.goto(opt.url, { waitUntil: 'commit' })
  note(`tab ${i} navigating`)
  return tab
}

async function seekTest (tab) {
  const { page } = tab
  return page.evaluate(async ({ fraction, limitMs }) => {
    const v = document.getElementById('video')
    const st = window.swarmcastStats
    for (let i = 0; i < 200 && st.playingFrom !== 'engine'; i++) await new Promise((resolve) => setTimeout(resolve, 50))
    const before = { playingFrom: st.playingFrom, progress: st.progress, done: st.done }
    const target = v.duration * fraction
    const t0 = performance.now()
    let seekedMs = null
    v.addEventListener('seeked', () => { seekedMs = performance.now() - t0 }, { once: true })
    v.currentTime = target
    await v.play().catch(() => {})
    // Resumed: past the target, moving, not seeking.
    let prev = null
    for (;;) {
      const el = performance.now() - t0
      if (el > limitMs) return { before, target, seekedMs, resumeMs: null, at: v.currentTime }
      if (!v.seeking && v.currentTime > target && prev !== null && v.currentTime > prev) {
        return { before, target, seekedMs, resumeMs: Math.round(el), at: v.currentTime }
      }
      prev = v.seeking ? null : v.currentTime
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
  }, { fraction: opt.seek, limitMs: 15000 })
}

async function rangeTest (tab) {
  return tab.page.evaluate(async (n) => {
    const st = window.swarmcastStats
    if (!st.streamURL || !st.originURL) return { error: 'no stream or origin URL in swarmcastStats' }
    const head = await fetch(st.originURL, { method: 'HEAD' })
    const size = Number(head.headers.get('Content-Length'))
    const hex = async (buf) => Array.from(new Uint8Array(await crypto.subtle.digest('SHA-256', buf))).map((b) => b.toString(16).padStart(2, '0')).join('')
    const out = []
    for (let k = 0; k < n; k++) {
      const a = k === 0 ? 0 : k === n - 1 ? size - 1000 : Math.floor(Math.random() * (size - 70000))
      const b = Math.min(size - 1, a + (k === n - 1 ? 999 : 1 + Math.floor(Math.random() * 65536)))
      const range = `bytes=${a}-${b}`
      const [s, o] = await Promise.all([st.streamURL, st.originURL].map((u) => fetch(u, { headers: { Range: range }, cache: 'no-store' })))
      const [sb, ob] = await Promise.all([s.arrayBuffer(), o.arrayBuffer()])
      out.push({ range, status: s.status, contentRange: s.headers.get('Content-Range'), bytes: sb.byteLength, want: b - a + 1, same: (await hex(sb)) === (await hex(ob)) })
    }
    return { size, ranges: out }
  }, opt.ranges)
}

// bridgeCheck waits until the tab plays from its origin bridge or its engine is ready, then, if it plays
// from the bridge, fetches the whole file through the stream URL and from the origin and compares them.
async function bridgeCheck (tab) {
  await tab.navigated
  await tab.page.waitForFunction(() => { const st = window.swarmcastStats; return st && (st.playingFrom || st.ready || st.error) },
    null, { polling: 20, timeout: Math.max(1000, deadline - Date.now()) })
  return tab.page.evaluate(async () => {
    const st = window.swarmcastStats
    const out = { playingFrom: st.playingFrom, readyAtStart: st.ready, atMs: Math.round(performance.now()) }
    if (st.playingFrom !== 'bridge') return out
    const hex = async (buf) => Array.from(new Uint8Array(await crypto.subtle.digest('SHA-256', buf))).map((b) => b.toString(16).padStart(2, '0')).join('')
    const [s, o] = await Promise.all([st.streamURL, st.originURL].map((u) => fetch(u, { cache: 'no-store' })))
    const [sb, ob] = await Promise.all([s.arrayBuffer(), o.arrayBuffer()])
    Object.assign(out, { status: s.status, bytes: sb.byteLength, want: ob.byteLength, same: (await hex(sb)) === (await hex(ob)), readyAtEnd: st.ready })
    return out
  })
}

// serveWebTorrentPage serves the WebTorrent watch page and WebTorrent's bundle and service worker on a
// free loopback port, and returns the page's URL for the torrent of opt.url.
async function serveWebTorrentPage () {
  const dist = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'node_modules', 'webtorrent', 'dist')
  const files = {
    '/wt-watch.html': [opt.webtorrent, 'text/html; charset=utf-8'],
    '/webtorrent.min.js': [path.join(dist, 'webtorrent.min.js'), 'text/javascript'],
    '/sw.min.js': [path.join(dist, 'sw.min.js'), 'text/javascript']
  }
  for (const [f] of Object.values(files)) fs.accessSync(f)
  const srv = http.createServer((req, res) => {
    const f = files[new URL(req.url, 'http://x').pathname]
    if (!f) { res.writeHead(404); res.end(); return }
    res.writeHead(200, { 'Content-Type': f[1], 'Cache-Control': 'no-store' })
    fs.createReadStream(f[0]).pipe(res)
  })
  await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve))
  srv.unref()
  const torrent = new URL(opt.url).searchParams.get('torrent')
  return `http://127.0.0.1:${srv.address().port}/wt-watch.html?torrent=${encodeURIComponent(torrent)}`
}

async function main () {
  if (opt.webtorrent) opt.url = await serveWebTorrentPage()
  if (opt.query.length) opt.url += (opt.url.includes('?') ? '&' : '?') + opt.query.join('&')
  result.url = opt.url
  browser = await chromium.launch({
    executablePath: opt.chromium,
    headless: true,
    timeout: opt.timeout * 1000,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--autoplay-policy=no-user-gesture-required',
      // Background tabs must keep playing and serving: no timer throttling of hidden pages.
      '--disable-background-timer-throttling', '--disable-renderer-backgrounding', '--disable-backgrounding-occluded-windows'
    ]
  })
  note('chromium started')
  result.step = 'tabs'
  const tabs = []
  const watching = []
  liveTabs = tabs
  let cpuFrom = null
  if (opt.cpu) {
    if (cpu.available()) cpuFrom = cpu.snapshot()
    else note('--cpu: no /proc/stat here; no CPU account')
  }
  for (let i = 0; i < opt.tabs; i++) {
    // Each tab starts navigating opt.gap after the one before it started (on a loaded machine making
    // a tab can take longer than the gap; then they open as fast as the browser can make them). The
    // next one does not wait for this one to load.
    if (i > 0) await sleep(Math.max(0, tabs[i - 1].navStart + opt.gap - Date.now()))
    const tab = await openTab(i)
    tabs[i] = tab
    if (i === 0 && opt.bridgeCheck) {
      tab.bridgeCheck = bridgeCheck(tab)
      tab.bridgeCheck.catch(() => {}) // reported where it is awaited
    }
    watching.push((async () => {
      await tab.navigated
      await watchTab(tab)
      const s = tab.stats
      print({ event: 'tab', i, openedAt: tab.openedAt, ...tab.played, stats: s })
      note(`tab ${i}: first frame ${s.firstFrameMs} ms, played ${tab.played.fromTime.toFixed(1)}→${tab.played.toTime.toFixed(1)} s, longest stall ${tab.played.longestNoProgressMs} ms, from peers ${s.bytesFromPeers}, from origin ${s.bytesFromOrigin}`)
    })())
  }
  await Promise.all(watching)
  if (opt.seek > 0) {
    result.step = 'seek'
    result.seek = await seekTest(tabs[0])
    note(`seek: ${JSON.stringify(result.seek)}`)
    if (result.seek.resumeMs === null) throw new Error(`the seek to ${opt.seek} did not resume playing within 15 s`)
  }
  if (opt.ranges > 0) {
    result.step = 'ranges'
    result.ranges = await rangeTest(tabs[0])
    if (result.ranges.error) throw new Error(result.ranges.error)
  }
  if (tabs[0].bridgeCheck) {
    result.step = 'bridge'
    result.bridge = await tabs[0].bridgeCheck
    note(`bridge: ${JSON.stringify(result.bridge)}`)
  }
  if (opt.waitDone) {
    result.step = 'done'
    for (const tab of tabs) {
      await tab.page.waitForFunction(() => window.swarmcastStats && window.swarmcastStats.done, null, { polling: 100, timeout: Math.max(1000, deadline - Date.now()) })
    }
  }
  if (cpuFrom) {
    result.cpu = { until: opt.waitDone ? 'last done' : 'last played', ...cpu.account(cpuFrom, cpu.snapshot()) }
    note(`cpu: ${JSON.stringify(result.cpu)}`)
  }
  for (const tab of tabs) {
    tab.final = await tab.page.evaluate(() => JSON.parse(JSON.stringify(window.swarmcastStats)))
    result.tabs.push({ i: tab.i, openedAt: tab.openedAt, played: tab.played, atPlayed: tab.stats, final: tab.final, error: tab.error || null, console: tab.console })
  }
  result.step = 'end'
  result.ok = true
}

main().then(() => finish(), finish)
