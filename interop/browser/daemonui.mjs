// daemonui.mjs drives swarmcast serve's web UI in headless Chromium (apt `chromium`, npm `playwright-core`)
// as a user would: add a magnet link through the form, watch the torrent appear in the list and reach
// 100%, open its details, and press a file's play button, which opens the player page; the video there
// must show a frame.
//
//   node browser/daemonui.mjs BASE_URL MAGNET INFOHASH --shots DIR [--timeout SECONDS] [--chromium PATH]
//         [--width PX --height PX]
//
// Screenshots go to DIR: list.png (the torrent at 100%), detail.png (its files), player.png (the player).
// It prints one JSON object on stdout: {"ok":true|false,"step":"...","error":"...", timings in ms}.
// Exit status: 0 when ok, 1 when a step failed, 2 on bad usage.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { chromium } from 'playwright-core'

const argv = process.argv.slice(2)
const pos = []
let shots = null
let timeoutS = 60
let width = 1000
let height = 760
let executablePath = process.env.CHROMIUM || '/usr/bin/chromium'
for (let i = 0; i < argv.length; i++) {
  switch (argv[i]) {
    case '--shots': shots = argv[++i]; break
    case '--timeout': timeoutS = Number(argv[++i]); break
    case '--chromium': executablePath = argv[++i]; break
    case '--width': width = Number(argv[++i]); break
    case '--height': height = Number(argv[++i]); break
    default:
      if (argv[i].startsWith('--')) usage(`unknown argument ${argv[i]}`)
      pos.push(argv[i])
  }
}
if (pos.length !== 3 || !shots) usage('want BASE_URL MAGNET INFOHASH --shots DIR')
const [base, magnet, infoHash] = pos

function usage (msg) {
  process.stderr.write(`daemonui.mjs: ${msg}\n`)
  process.exit(2)
}

const started = Date.now()
const note = (msg) => process.stderr.write(`daemonui.mjs: ${((Date.now() - started) / 1000).toFixed(1)}s ${msg}\n`)
const result = { ok: false, step: 'launch', console: [] }
const timeoutMs = timeoutS * 1000
let context = null

const deadline = setTimeout(() => finish(new Error(`gave up after ${4 * timeoutS} s in all`)), 4 * timeoutMs)

async function finish (err) {
  clearTimeout(deadline)
  if (err) result.error = String(err && err.message ? err.message : err)
  else result.ok = true
  result.totalMs = Date.now() - started
  try { if (context) await context.close() } catch (e) {}
  process.stdout.write(JSON.stringify(result) + '\n')
  process.exit(result.ok ? 0 : 1)
}

async function main () {
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'swarmcast-chromium-'))
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath,
    headless: true,
    timeout: timeoutMs,
    viewport: { width, height },
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--autoplay-policy=no-user-gesture-required'
    ]
  })
  note('chromium started')
  const page = context.pages()[0] || await context.newPage()
  page.setDefaultTimeout(timeoutMs)
  const external = []
  page.on('request', (r) => { if (!r.url().startsWith(base) && !r.url().startsWith('data:')) external.push(r.url()) })
  page.on('console', (m) => { if (result.console.length < 30) result.console.push(`${m.type()}: ${m.text()}`) })
  page.on('pageerror', (e) => { if (result.console.length < 30) result.console.push(`pageerror: ${e.message}`) })

  result.step = 'load'
  await page.goto(base + '/')
  await page.waitForSelector('#add')

  result.step = 'add'
  const t0 = Date.now()
  await page.fill('#link', magnet)
  await page.click('#add-button')
  const row = `.torrent[data-hash="${infoHash}"]`
  await page.waitForSelector(row)
  result.listedMs = Date.now() - t0
  note('listed')

  result.step = '100%'
  await page.waitForFunction((sel) => {
    const p = document.querySelector(sel + ' .percent')
    return p && p.textContent === '100%'
  }, row, { timeout: timeoutMs })
  result.completeMs = Date.now() - t0
  note('100%')
  await page.screenshot({ path: path.join(shots, 'list.png'), fullPage: true })

  result.step = 'details'
  await page.click(`${row} button:has-text("Details")`)
  await page.waitForSelector(`${row} a.play`)
  await page.screenshot({ path: path.join(shots, 'detail.png'), fullPage: true })

  result.step = 'play'
  const [player] = await Promise.all([context.waitForEvent('page'), page.click(`${row} a.play`)])
  player.setDefaultTimeout(timeoutMs)
  await player.waitForLoadState()
  result.playerUrl = player.url()
  // A frame decoded: the video has its size and data for the current position.
  await player.waitForFunction(() => {
    const v = document.querySelector('video')
    return v && v.readyState >= 2 && v.videoWidth > 0
  }, null, { timeout: timeoutMs })
  result.video = await player.evaluate(() => {
    const v = document.querySelector('video')
    return { width: v.videoWidth, height: v.videoHeight, duration: v.duration, src: v.currentSrc }
  })
  await player.screenshot({ path: path.join(shots, 'player.png') })
  result.step = 'phone'
  // The same list on a phone's screen: nothing wider than the viewport.
  await page.setViewportSize({ width: 390, height: 844 })
  result.phoneOverflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)
  await page.screenshot({ path: path.join(shots, 'phone.png'), fullPage: true })
  result.external = external
  result.step = 'done'
}

main().then(() => finish(null), (err) => finish(err))
