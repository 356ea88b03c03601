// parse.mjs runs the real parse-torrent (the parser WebTorrent itself uses) on torrents and magnet URIs
// and prints what it makes of them as one JSON object on stdout, for interop/foundation_test.go to compare
// with `swarmcast info --json`.
//
// Usage: node parse.mjs [--fixtures] [--pieces] [--torrent FILE]... [--magnet URI]...
//
//   --fixtures      every .torrent file in webtorrent-fixtures' fixtures folder, and every magnet URI that
//                   webtorrent-fixtures exports (it builds them with parse-torrent's own toMagnetURI)
//   --pieces        also print each torrent's piece hashes (hex)
//   --torrent FILE  a .torrent file
//   --magnet URI    a magnet URI
//
// Output: {"parseTorrentVersion", "fixturesDir", "torrents": [...], "magnets": [...]}. Every entry has
// "source" and "ok"; one that parse-torrent refuses has "error" (the message it threw) instead of fields.
// Besides parse-torrent's own fields, a torrent entry has "raw": facts read straight from the bencoded
// info dict (path components before path.join normalises them, name.utf-8, BEP 47 attributes, the type
// of url-list), so that the Go side can apply swarmcast's path-safety rule and report the fixtures.

import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import bencode from 'bencode'
import parseTorrent from 'parse-torrent'

const text = new TextDecoder()

function str (v) {
  if (v === undefined || v === null) return undefined
  if (ArrayBuffer.isView(v)) return text.decode(v)
  return String(v)
}

function typeOf (v) {
  if (v === undefined) return 'absent'
  if (ArrayBuffer.isView(v)) return 'string'
  if (Array.isArray(v)) return 'list'
  if (typeof v === 'number' || typeof v === 'bigint') return 'integer'
  return typeof v
}

function isDict (v) {
  return v !== null && typeof v === 'object' && !ArrayBuffer.isView(v) && !Array.isArray(v)
}

// raw reads the facts that parse-torrent's result hides from the bencoded torrent itself.
function raw (buf) {
  let t
  try {
    t = bencode.decode(buf)
  } catch (err) {
    return { decodeError: err.message }
  }
  if (!isDict(t)) return { decodeError: 'not a bencoded dictionary' }
  const info = isDict(t.info) ? t.info : {}
  const files = Array.isArray(info.files) ? info.files : null
  const out = {
    topKeys: Object.keys(t || {}).sort(),
    infoKeys: Object.keys(info).sort(),
    name: str(info.name),
    nameUtf8: str(info['name.utf-8']),
    multiFile: files !== null,
    announceType: typeOf(t.announce),
    announceListType: typeOf(t['announce-list']),
    urlListType: typeOf(t['url-list']),
    privateValue: info.private === undefined ? undefined : Number(info.private),
    files: []
  }
  if (files) {
    for (const f of files) {
      const p = f['path.utf-8'] || f.path
      out.files.push({
        path: Array.isArray(p) ? p.map(str) : null,
        hasPathUtf8: f['path.utf-8'] !== undefined,
        attr: str(f.attr),
        length: typeof f.length === 'number' ? f.length : null
      })
    }
  }
  return out
}

async function parseTorrentFile (file, withPieces) {
  const entry = { source: file }
  const buf = fs.readFileSync(file)
  entry.raw = raw(buf)
  let p
  try {
    p = await parseTorrent(buf)
  } catch (err) {
    entry.ok = false
    entry.error = err.message
    return entry
  }
  entry.ok = true
  entry.infoHash = p.infoHash
  entry.name = p.name
  entry.length = p.length
  entry.pieceLength = p.pieceLength
  entry.pieceCount = p.pieces.length
  entry.lastPieceLength = p.lastPieceLength
  entry.private = p.private === true
  entry.files = p.files.map(f => ({ path: f.path, name: f.name, length: f.length, offset: f.offset }))
  entry.announce = p.announce
  entry.urlList = p.urlList
  if (withPieces) entry.pieces = p.pieces
  return entry
}

async function parseMagnet (uri, source) {
  const entry = { source, uri }
  let p
  try {
    p = await parseTorrent(uri)
  } catch (err) {
    entry.ok = false
    entry.error = err.message
    return entry
  }
  entry.ok = true
  entry.infoHash = p.infoHash
  if (p.name !== undefined) entry.name = String(p.name)
  entry.announce = p.announce
  entry.urlList = p.urlList
  if (p.so !== undefined) entry.select = p.so
  return entry
}

async function main () {
  const args = process.argv.slice(2)
  let fixtures = false
  let withPieces = false
  const torrents = []
  const magnets = []
  for (let i = 0; i < args.length; i++) {
    const a = args[i]
    if (a === '--fixtures') fixtures = true
    else if (a === '--pieces') withPieces = true
    else if (a === '--torrent' && i + 1 < args.length) torrents.push(args[++i])
    else if (a === '--magnet' && i + 1 < args.length) magnets.push({ uri: args[++i], source: 'argument' })
    else throw new Error(`parse.mjs: unknown or incomplete argument ${JSON.stringify(a)}`)
  }

  const here = path.dirname(fileURLToPath(import.meta.url))
  const ptPkg = JSON.parse(fs.readFileSync(path.join(here, '..', 'node_modules', 'parse-torrent', 'package.json'), 'utf8'))
  const out = { parseTorrentVersion: ptPkg.version, torrents: [], magnets: [] }

  if (fixtures) {
    const indexFile = fileURLToPath(import.meta.resolve('webtorrent-fixtures'))
    const dir = path.join(path.dirname(indexFile), 'fixtures')
    out.fixturesDir = dir
    const found = fs.readdirSync(dir).filter(n => n.endsWith('.torrent')).sort()
    torrents.unshift(...found.map(n => path.join(dir, n)))
    // The package's default export builds a magnet URI for each fixture it parses; importing it parses
    // them all with parse-torrent. A fixture module that fails to load is reported, not fatal: the torrent
    // files are still there.
    try {
      const mod = (await import('webtorrent-fixtures')).default
      const keys = Object.keys(mod).sort().filter(k => typeof mod[k].magnetURI === 'string')
      magnets.unshift(...keys.map(k => ({ uri: mod[k].magnetURI, source: `webtorrent-fixtures:${k}` })))
    } catch (err) {
      out.fixturesModuleError = err.message
    }
  }

  for (const file of torrents) out.torrents.push(await parseTorrentFile(file, withPieces))
  for (const m of magnets) out.magnets.push(await parseMagnet(m.uri, m.source))
  process.stdout.write(JSON.stringify(out, null, 1) + '\n')
}

main().catch(err => {
  process.stderr.write(`parse.mjs: ${err.stack || err}\n`)
  process.exit(2)
})
