// swrange.mjs checks sw.js's Range parsing (web/client/sw.js, parseRange) against RFC 9110's
// rules, table by table, in Node: sw.js is loaded as a script with a stand-in for the service
// worker's global scope. It prints one line per failed case and exits 1 if any failed.
//
//   node node/swrange.mjs PATH/TO/sw.js
import { readFileSync } from 'node:fs'
import vm from 'node:vm'

const src = readFileSync(process.argv[2], 'utf8')
const module = { exports: {} }
const self = { addEventListener () {}, registration: { scope: 'http://127.0.0.1/' } }
vm.runInNewContext(src, { self, module, URL, Response: class {}, ReadableStream: class {}, MessageChannel: class {}, caches: {}, setTimeout, clearTimeout })
const { parseRange, contentType } = module.exports

const n = 1000
const cases = [
  [null, null],
  ['', null],
  ['bytes=0-0', { start: 0, end: 1 }],
  ['bytes=0-', { start: 0, end: n }],
  ['bytes=10-19', { start: 10, end: 20 }],
  ['bytes=990-2000', { start: 990, end: n }], // an end past the file is cut to it
  ['bytes=-100', { start: 900, end: n }], // the last 100 bytes
  ['bytes=-5000', { start: 0, end: n }], // a suffix longer than the file is all of it
  ['bytes=-0', 'invalid'],
  ['bytes=1000-', 'invalid'], // starts at the end
  ['bytes=1500-1600', 'invalid'],
  ['bytes=20-10', 'invalid'],
  ['bytes=0-9, 20-29', { start: 0, end: 10 }], // several ranges: the first
  ['BYTES = 5 - 6', { start: 5, end: 7 }],
  ['items=0-9', null], // not bytes: ignored, the whole file is sent
  ['bytes=-', null],
  ['bytes=abc', null]
]
let failed = 0
for (const [header, want] of cases) {
  const got = parseRange(header, n)
  if (JSON.stringify(got) !== JSON.stringify(want)) {
    failed++
    console.log(`parseRange(${JSON.stringify(header)}, ${n}) = ${JSON.stringify(got)}, want ${JSON.stringify(want)}`)
  }
}
for (const [path, want] of [['a/b/video.MP4', 'video/mp4'], ['x.webm', 'video/webm'], ['noext', 'application/octet-stream']]) {
  if (contentType(path) !== want) {
    failed++
    console.log(`contentType(${path}) = ${contentType(path)}, want ${want}`)
  }
}
console.log(`${cases.length} ranges checked, ${failed} failed`)
process.exit(failed ? 1 : 0)
