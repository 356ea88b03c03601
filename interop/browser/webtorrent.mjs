// webtorrent.mjs runs WebTorrent's browser bundle in headless Chromium (apt chromium, driven by npm
// playwright-core) for the WebRTC interop tests (webrtc_browser_test.go): one page that seeds, one that
// downloads, or both (two pages, each its own WebTorrent client, in one browser).
//
//   node browser/webtorrent.mjs --base URL [--seed-base URL] [--tracker WS_URL]... [--seed PATH:NAME]
//                               [--download MAGNET|seed] [--timeout SECONDS] --chromium PATH
//
// URL serves webtorrent.html at / and WebTorrent's bundle at /webtorrent.min.js (the test's own HTTP
// server). --seed makes a page that fetches URL+PATH and seeds it as a File called NAME; --download
// makes a page that downloads MAGNET ("seed": the seeding page's magnet link). Both announce to every
// --tracker. --seed-base loads the seeding page from another server (another client's test page with
// the same calls, such as browser/swarmcast.html), so two different clients trade.
//
// It prints one JSON object per line on stdout: {"event":"chromium-started"}, then every event the
// pages report ({"page":"seed"|"download","event":...,"at":MS}, where at is milliseconds since that
// page's navigation began: "seeding" with the magnetURI, "wire" per peer with its type (webrtc, ...),
// "metadata", "progress" each second, "done" with the SHA-256 of the downloaded file), and at the end
// {"event":"result","ok":true|false,...}. With --download it exits once the download is done (0) or
// failed (1); with only --seed it seeds until SIGINT or SIGTERM. --timeout (default 90) bounds the run.
import { chromium } from 'playwright-core'

const argv = process.argv.slice(2)
let base = null
let seedBase = null
let seed = null
let download = null
let timeoutS = 90
const trackers = []
let executablePath = process.env.CHROMIUM || null
for (let i = 0; i < argv.length; i++) {
  switch (argv[i]) {
    case '--base': base = argv[++i]; break
    case '--seed-base': seedBase = argv[++i]; break
    case '--tracker': trackers.push(argv[++i]); break
    case '--seed': seed = argv[++i]; break
    case '--download': download = argv[++i]; break
    case '--timeout': timeoutS = Number(argv[++i]); break
    case '--chromium': executablePath = argv[++i]; break
    default: usage(`unknown argument ${argv[i]}`)
  }
}
if (!base) usage('--base URL is required')
if (!executablePath) usage('--chromium PATH (or $CHROMIUM) is required: the test finds chromium on the PATH')
if (!seed && !download) usage('give --seed, --download or both')
if (download === 'seed' && !seed) usage('--download seed needs --seed')
if (seed && !/^\/[^:]*:.+$/.test(seed)) usage('--seed takes PATH:NAME, PATH starting with /')
if (!(timeoutS > 0)) usage('--timeout must be positive')

function usage (msg) {
  process.stderr.write(`webtorrent.mjs: ${msg}\n`)
  process.exit(2)
}

const started = Date.now()
function print (obj) {
  process.stdout.write(JSON.stringify(obj) + '\n')
}
function note (msg) {
  process.stderr.write(`webtorrent.mjs: ${((Date.now() - started) / 1000).toFixed(1)}s ${msg}\n`)
}

const result = { event: 'result', ok: false, step: 'launch' }
let browser = null
let finished = false
let resolveDone = null
const downloadDone = new Promise((resolve) => { resolveDone = resolve })

const deadline = setTimeout(() => finish(new Error(`gave up after ${timeoutS} s`)), timeoutS * 1000)

// openPage loads the test page as label and forwards its reports to stdout.
async function openPage (label, url) {
  // A context of its own per page: WebTorrent in the browser keeps pieces in storage shared by an
  // origin, so two pages of one context would share the seeder's data instead of sending it.
  const context = await browser.newContext()
  const page = await context.newPage()
  page.setDefaultTimeout(timeoutS * 1000)
  page.on('console', (m) => note(`${label} console ${m.type()}: ${m.text()}`))
  page.on('pageerror', (e) => {
    note(`${label} pageerror: ${e.message}`)
    print({ page: label, event: 'pageerror', message: e.message })
  })
  await page.exposeFunction('swarmcastReport', (ev) => {
    print({ page: label, ...ev })
    if (label === 'download' && ev.event === 'done') resolveDone({ ok: true, done: ev })
    if (label === 'download' && ev.event === 'error') resolveDone({ ok: false, error: ev.message })
  })
  const t = Date.now()
  await page.goto(url || base, { waitUntil: 'load' })
  await page.waitForFunction(() => window.swarmcastWTReady === true, null, { polling: 50 })
  note(`${label} page ready after ${Date.now() - t} ms`)
  return page
}

async function main () {
  browser = await chromium.launch({
    executablePath,
    headless: true,
    timeout: timeoutS * 1000,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      // WebRTC on a host with only loopback to reach the other peers: without these, Chromium offers
      // no 127.0.0.1 candidate (only an mDNS name) and ICE never connects.
      '--allow-loopback-in-peer-connection', '--disable-features=WebRtcHideLocalIpsWithMdns'
    ]
  })
  print({ event: 'chromium-started', ms: Date.now() - started })
  note('chromium started')

  let magnet = download
  if (seed) {
    result.step = 'seed'
    const i = seed.indexOf(':')
    const page = await openPage('seed', seedBase)
    magnet = await page.evaluate(({ p, n, tr }) => window.swarmcastWT.seed(p, n, tr), { p: seed.slice(0, i), n: seed.slice(i + 1), tr: trackers })
    result.magnetURI = magnet
  }
  if (!download) {
    result.step = 'seeding'
    await new Promise(() => {}) // until a signal or the deadline
  }
  result.step = 'download'
  const page = await openPage('download')
  await page.evaluate(({ m, tr }) => window.swarmcastWT.download(m, tr), { m: magnet, tr: trackers })
  const r = await downloadDone
  if (!r.ok) throw new Error(r.error)
  result.download = r.done
  result.step = 'done'
  result.ok = true
}

async function finish (err) {
  if (finished) return
  finished = true
  clearTimeout(deadline)
  if (err) {
    result.ok = false
    result.error = `${result.step}: ${String(err.message || err).split('\n')[0]}`
  }
  print(result)
  note(result.ok ? 'ok, closing chromium' : `stopped at step "${result.step}": ${result.error || ''}`)
  if (browser) await Promise.race([browser.close().catch(() => {}), new Promise((resolve) => setTimeout(resolve, 4000))])
  process.exit(result.ok ? 0 : 1)
}

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    // A seeder stopped by the test has done its job.
    if (!download && result.step === 'seeding') result.ok = true
    finish(result.ok ? null : new Error(`stopped by ${sig}`))
  })
}

main().then(() => finish(null), (err) => finish(err))
