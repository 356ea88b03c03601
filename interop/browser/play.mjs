// play.mjs plays a stream in swarmcast's player page in headless Chromium (apt `chromium`, driven by npm
// `playwright-core`) and reports what a viewer would see: when the first frame showed, whether playback
// advances, whether a seek far ahead resumes, and how often the video stalled.
//
//   node browser/play.mjs PLAYER_URL|--url-file FILE [--screenshot FILE] [--seek FRACTION]
//                         [--advance SECONDS] [--timeout SECONDS] [--chromium PATH]
//
// PLAYER_URL is what `swarmcast stream` prints after "player: " (muted autoplay is forced with
// muted=1, so that Chromium's autoplay policy lets it play). With --url-file, Chromium starts first
// and the URL is read from FILE once it exists (write it whole, e.g. by a rename): a test can then
// start the stream only when the browser is up, so that the stream's download has not raced ahead
// during Chromium's start-up. Steps, each bounded by --timeout:
//   1. load the page; wait for the first video frame and for currentTime > 0;
//   2. wait until currentTime has advanced by --advance seconds (default 2) of media time;
//   3. seek to FRACTION (default 0.8) of the duration; wait until playback resumes there (currentTime
//      past the target and advancing, not paused) and has played --advance seconds more;
//   4. take a screenshot (--screenshot).
// Times come from the page's own clock (performance.now(), milliseconds since navigation began).
//
// It prints one JSON object on stdout: {"ok":true|false,"error":"...","step":"...", timings, counters}.
// Progress notes go to stderr. Exit status: 0 when ok, 1 when a step failed, 2 on bad usage.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { chromium } from 'playwright-core'

const argv = process.argv.slice(2)
let url = null
let urlFile = null
let screenshot = null
let seekFraction = 0.8
let advance = 2
let timeoutS = 60
let executablePath = process.env.CHROMIUM || '/usr/bin/chromium'
for (let i = 0; i < argv.length; i++) {
  switch (argv[i]) {
    case '--url-file': urlFile = argv[++i]; break
    case '--screenshot': screenshot = argv[++i]; break
    case '--seek': seekFraction = Number(argv[++i]); break
    case '--advance': advance = Number(argv[++i]); break
    case '--timeout': timeoutS = Number(argv[++i]); break
    case '--chromium': executablePath = argv[++i]; break
    default:
      if (url === null && !argv[i].startsWith('--')) url = argv[i]
      else usage(`unknown argument ${argv[i]}`)
  }
}
if (!url === !urlFile) usage('give either a player URL or --url-file FILE')
if (!(seekFraction > 0 && seekFraction < 1)) usage('--seek must be between 0 and 1')
if (!(advance > 0) || !(timeoutS > 0)) usage('--advance and --timeout must be positive')

function usage (msg) {
  process.stderr.write(`play.mjs: ${msg}\nusage: node browser/play.mjs PLAYER_URL [--screenshot FILE] [--seek FRACTION] [--advance SECONDS] [--timeout SECONDS]\n`)
  process.exit(2)
}

const started = Date.now()

function note (msg) {
  process.stderr.write(`play.mjs: ${((Date.now() - started) / 1000).toFixed(1)}s ${msg}\n`)
}

const result = { ok: false, step: 'launch' }
const timeoutMs = timeoutS * 1000

// Probe runs in the page before any of its scripts: it finds the <video id="player"> as soon as the
// player page creates it and records, on the page's clock, what happens to it. Kept in window.__probe.
function probe () {
  const p = window.__probe = {
    videoCreatedAt: null,
    firstFrameAt: null,
    firstPlayingAt: null,
    events: [],
    seek: null
  }
  const now = () => Math.round(performance.now())
  function watch (v) {
    p.videoCreatedAt = now()
    for (const type of ['loadstart', 'loadedmetadata', 'loadeddata', 'canplay', 'playing', 'waiting', 'stalled', 'seeking', 'seeked', 'error', 'pause', 'ended']) {
      v.addEventListener(type, () => {
        if (p.events.length < 500) p.events.push({ type, at: now(), t: +v.currentTime.toFixed(3) })
        if (type === 'playing' && p.firstPlayingAt === null) p.firstPlayingAt = now()
        if (p.seek) {
          if (type === 'seeked' && p.seek.seekedAt === null) p.seek.seekedAt = now()
          if (type === 'waiting') p.seek.waiting++
        }
      })
    }
    // A presented frame is what a viewer sees: requestVideoFrameCallback fires when one is composited.
    const onFrame = (_, meta) => {
      if (p.firstFrameAt === null) p.firstFrameAt = now()
      const s = p.seek
      if (s && s.firstFrameAt === null && s.seekedAt !== null && meta.mediaTime >= s.target - 0.5) {
        s.firstFrameAt = now()
      }
      v.requestVideoFrameCallback(onFrame)
    }
    if (v.requestVideoFrameCallback) v.requestVideoFrameCallback(onFrame)
  }
  new MutationObserver((_, obs) => {
    const v = document.getElementById('player')
    if (v && v.tagName === 'VIDEO') {
      obs.disconnect()
      watch(v)
    }
  }).observe(document, { childList: true, subtree: true })
}

let browser = null
let page = null
const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'swarmcast-chromium-'))
const consoleLines = []
const mediaRequests = []
let navStart = null
const failedRequests = []

// A hard stop for the whole run, whatever hangs: print what is known and exit.
const deadline = setTimeout(() => finish(new Error(`gave up after ${4 * timeoutS} s in all`)), 4 * timeoutMs)

async function main () {
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath,
    headless: true,
    timeout: timeoutMs,
    viewport: { width: 1000, height: 760 },
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'
    ]
  })
  browser = context
  note('chromium started')
  page = context.pages()[0] || await context.newPage()
  result.userAgent = await page.evaluate(() => navigator.userAgent)
  page.setDefaultTimeout(timeoutMs)
  page.on('console', (m) => { if (consoleLines.length < 50) consoleLines.push(`${m.type()}: ${m.text()}`) })
  page.on('pageerror', (e) => { if (consoleLines.length < 50) consoleLines.push(`pageerror: ${e.message}`) })
  // Every request for the stream, with times on this script's clock from the page load (about the
  // page's own clock): which byte ranges the media player asked for, and when each was answered.
  const media = new Map()
  const rel = () => navStart === null ? null : Date.now() - navStart
  page.on('request', (r) => {
    if (!r.url().includes('/webtorrent/') || mediaRequests.length >= 200) return
    const e = { range: r.headers().range || null, startMs: rel(), responseMs: null, endMs: null, status: null, failure: null }
    media.set(r, e)
    mediaRequests.push(e)
  })
  page.on('requestfinished', (r) => { const e = media.get(r); if (e) e.endMs = rel() })
  page.on('requestfailed', (r) => { const e = media.get(r); if (e) { e.endMs = rel(); e.failure = r.failure() && r.failure().errorText } })
  page.on('response', (r) => {
    const e = media.get(r.request())
    if (e) { e.responseMs = rel(); e.status = r.status() }
  })
  page.on('response', (r) => {
    if (r.status() >= 400 && failedRequests.length < 50) failedRequests.push(`${r.request().method()} ${r.url()}: HTTP ${r.status()}`)
  })
  page.on('requestfailed', (r) => {
    if (failedRequests.length < 50) failedRequests.push(`${r.method()} ${r.url()} ${r.headers().range || ''}: ${r.failure() && r.failure().errorText}`)
  })
  await page.addInitScript(probe)

  result.step = 'url'
  if (urlFile) {
    note(`waiting for ${urlFile}`)
    const t = Date.now()
    while (!fs.existsSync(urlFile)) {
      if (Date.now() - t > timeoutMs) throw new Error(`${urlFile} did not appear in ${timeoutS} s`)
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    url = fs.readFileSync(urlFile, 'utf8').trim()
  }
  // Muted autoplay: Chromium's autoplay policy blocks playback with sound until the user interacts.
  const u = new URL(url)
  u.searchParams.set('muted', '1')
  u.searchParams.delete('autoplay')
  result.url = u.toString()

  result.step = 'load'
  note(`loading ${u}`)
  navStart = Date.now()
  await page.goto(u.toString(), { waitUntil: 'domcontentloaded' })

  result.step = 'first frame'
  await page.waitForFunction(() => {
    const v = document.getElementById('player')
    const p = window.__probe
    return v && p && p.firstFrameAt !== null && v.currentTime > 0 && !v.paused
  }, null, { polling: 50, timeout: timeoutMs })
  let s = await state()
  result.videoCreatedMs = s.probe.videoCreatedAt
  result.firstFrameMs = s.probe.firstFrameAt
  result.firstPlayingMs = s.probe.firstPlayingAt
  result.duration = s.duration
  result.videoWidth = s.videoWidth
  result.videoHeight = s.videoHeight
  note(`first frame at ${result.firstFrameMs} ms (video element at ${result.videoCreatedMs} ms), duration ${s.duration} s`)

  result.step = 'advance'
  const t0 = s.currentTime
  const w0 = Date.now()
  await page.waitForFunction((want) => {
    const v = document.getElementById('player')
    return v.currentTime >= want && !v.paused
  }, t0 + advance, { polling: 100, timeout: timeoutMs })
  s = await state()
  result.advance = { fromTime: t0, toTime: s.currentTime, wallMs: Date.now() - w0 }
  note(`played ${(s.currentTime - t0).toFixed(2)} s of media in ${result.advance.wallMs} ms`)

  result.step = 'seek'
  if (!(s.duration > 0) || !Number.isFinite(s.duration)) throw new Error(`duration is ${s.duration}: cannot seek`)
  const target = +(s.duration * seekFraction).toFixed(3)
  result.seek = { target, bufferedBefore: s.buffered, torrentBefore: await torrentState(u, seekFraction) }
  await page.evaluate((target) => {
    const v = document.getElementById('player')
    window.__probe.seek = { target, startedAt: Math.round(performance.now()), seekedAt: null, firstFrameAt: null, resumedAt: null, waiting: 0 }
    v.currentTime = target
    // Resumed: playing again, past the target, on a later timeupdate than the seek itself.
    const check = () => {
      const s = window.__probe.seek
      if (s.resumedAt === null && s.seekedAt !== null && !v.paused && !v.seeking && v.readyState >= 3 && v.currentTime >= target + 0.1) {
        s.resumedAt = Math.round(performance.now())
        v.removeEventListener('timeupdate', check)
      }
    }
    v.addEventListener('timeupdate', check)
  }, target)
  await page.waitForFunction(() => window.__probe.seek.resumedAt !== null, null, { polling: 50, timeout: timeoutMs })
  s = await state()
  const sk = s.probe.seek
  result.seek.seekedMs = sk.seekedAt - sk.startedAt
  result.seek.resumeMs = sk.resumedAt - sk.startedAt
  result.seek.firstFrameMs = sk.firstFrameAt === null ? null : sk.firstFrameAt - sk.startedAt
  result.seek.timeAtResume = s.currentTime
  note(`seek to ${target} s: seeked after ${result.seek.seekedMs} ms, playing past it after ${result.seek.resumeMs} ms`)

  result.step = 'advance after seek'
  const ta = s.currentTime
  const wa = Date.now()
  const want = Math.min(ta + advance, s.duration - 0.5)
  await page.waitForFunction((want) => {
    const v = document.getElementById('player')
    return v.currentTime >= want && (!v.paused || v.ended)
  }, want, { polling: 100, timeout: timeoutMs })
  s = await state()
  result.seek.afterAdvance = { fromTime: ta, toTime: s.currentTime, wallMs: Date.now() - wa }
  note(`after the seek, played ${(s.currentTime - ta).toFixed(2)} s of media in ${result.seek.afterAdvance.wallMs} ms`)

  // Let the stats panel refresh (it polls the API once a second) before the picture.
  await page.waitForTimeout(1200)
  result.step = 'screenshot'
  if (screenshot) {
    await page.screenshot({ path: screenshot, fullPage: true })
    result.screenshot = screenshot
  }
  result.step = 'done'
  result.ok = true
}

// torrentState asks the stream server how much of the torrent it has, and whether it has the piece at
// fraction of the file (for a constant-bitrate video, about where a seek to that fraction of the
// duration lands), so a report can tell a seek into missing data from one into data already there.
async function torrentState (u, fraction) {
  const ih = u.searchParams.get('torrent')
  return page.evaluate(async ({ ih, fraction }) => {
    try {
      const res = await fetch('/api/torrents/' + encodeURIComponent(ih), { cache: 'no-store' })
      const t = await res.json()
      const map = t.piecesMap || ''
      const have = [...map].filter((c) => c === '1').length
      const at = Math.min(map.length - 1, Math.floor(fraction * map.length))
      return {
        progress: map.length ? +(have / map.length).toFixed(3) : null,
        pieces: map.length,
        pieceAtFraction: at,
        havePieceAtFraction: map.length ? map[at] === '1' : null
      }
    } catch (e) {
      return { error: e.message }
    }
  }, { ih, fraction })
}

// state reads the video element, the player's counters and the probe's records.
async function state () {
  return page.evaluate(() => {
    const v = document.getElementById('player')
    const buffered = []
    if (v) for (let i = 0; i < v.buffered.length; i++) buffered.push([+v.buffered.start(i).toFixed(2), +v.buffered.end(i).toFixed(2)])
    return {
      currentTime: v ? v.currentTime : null,
      duration: v ? v.duration : null,
      paused: v ? v.paused : null,
      readyState: v ? v.readyState : null,
      networkState: v ? v.networkState : null,
      videoWidth: v ? v.videoWidth : null,
      videoHeight: v ? v.videoHeight : null,
      mediaError: v && v.error ? { code: v.error.code, message: v.error.message } : null,
      buffered,
      counters: window.swarmcastPlayer || null,
      status: (document.getElementById('status') || {}).textContent || null,
      probe: window.__probe || null
    }
  })
}

let finished = false
async function finish (err) {
  if (finished) return
  finished = true
  clearTimeout(deadline)
  if (err) {
    result.ok = false
    result.error = `${result.step}: ${err.message.split('\n')[0]}`
  }
  if (page) {
    try {
      const s = await Promise.race([state(), new Promise((_, rej) => setTimeout(() => rej(new Error('state timed out')), 5000))])
      result.final = { currentTime: s.currentTime, duration: s.duration, paused: s.paused, readyState: s.readyState, networkState: s.networkState, buffered: s.buffered, mediaError: s.mediaError, status: s.status }
      result.counters = s.counters
      result.events = s.probe ? s.probe.events : null
      if (!result.ok && screenshot && !result.screenshot) {
        await page.screenshot({ path: screenshot, timeout: 5000 }).then(() => { result.screenshot = screenshot }, () => {})
      }
    } catch (e) {
      result.stateError = e.message
    }
  }
  result.console = consoleLines
  result.failedRequests = failedRequests
  result.mediaRequests = mediaRequests
  process.stdout.write(JSON.stringify(result) + '\n')
  note(result.ok ? 'ok, closing chromium' : `failed at step "${result.step}", closing chromium`)
  if (browser) await Promise.race([browser.close().catch(() => {}), new Promise((resolve) => setTimeout(resolve, 5000))])
  fs.rmSync(userDataDir, { recursive: true, force: true })
  process.exit(result.ok ? 0 : 1)
}

main().then(() => finish(null), (err) => finish(err))
