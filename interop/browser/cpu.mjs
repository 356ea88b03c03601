// cpu.mjs accounts for where a machine's CPU went while headless Chromium ran a scenario, from Linux's
// /proc: the machine's busy share between two snapshots, and the CPU seconds of the browser's threads
// (every process under the driver, which launched the browser) sorted by what the thread does, with the
// driver's own apart. demo.mjs --cpu takes a
// snapshot when the first tab starts navigating and another when the last tab is done, so that a goal on
// time can be read against the CPU the machine had for it.
import fs from 'node:fs'
import os from 'node:os'

// hz is USER_HZ, the unit of /proc's CPU times: 100 on every architecture Linux builds Chromium for.
const hz = 100

// kinds sorts a thread by its process's --type and its name (Chromium names its threads; the kernel
// keeps the first 15 characters). The first match wins.
const kinds = [
  ['engine', (type, comm) => type === 'renderer' && comm.startsWith('DedicatedWorker')],
  ['service worker', (type, comm) => comm.startsWith('ServiceWorker')],
  ['WebRTC', (type, comm) => comm.startsWith('WebRTC')],
  ['video and compositing', (type, comm) => /^(Media|VideoFrameCompo|Compositor|VizCompositor|AudioOutputDev|AudioThread)/.test(comm)],
  ['renderer pools', (type, comm) => type === 'renderer' && comm.startsWith('ThreadPool')],
  ['page main threads', (type, comm, main) => type === 'renderer' && main],
  ['browser and other', () => true]
]

// available reports whether this machine has what snapshot reads.
export function available () {
  try {
    fs.accessSync('/proc/stat', fs.constants.R_OK)
    return true
  } catch {
    return false
  }
}

function machineTicks () {
  // cpu  user nice system idle iowait irq softirq steal ...
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number)
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0)
  return { busy: total - f[3] - f[4], total }
}

// statFields returns the fields of a /proc stat file after the command name (which may hold spaces).
function statFields (path) {
  const s = fs.readFileSync(path, 'utf8')
  return { comm: s.slice(s.indexOf('(') + 1, s.lastIndexOf(')')), f: s.slice(s.lastIndexOf(')') + 2).split(' ') }
}

// tree returns rootPid and every process under it.
function tree (rootPid) {
  const children = new Map()
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    try {
      const ppid = Number(statFields(`/proc/${name}/stat`).f[1])
      if (!children.has(ppid)) children.set(ppid, [])
      children.get(ppid).push(Number(name))
    } catch {} // gone since the listing
  }
  const out = []
  const todo = [rootPid]
  while (todo.length) {
    const pid = todo.pop()
    out.push(pid)
    todo.push(...(children.get(pid) || []))
  }
  return out
}

// snapshot reads the machine's CPU ticks and those of every thread of this process (the driver) and of
// every process under it (the browser it launched).
export function snapshot () {
  const at = Date.now()
  const machine = machineTicks()
  const threads = new Map() // "pid/tid" -> {kind, ticks}
  for (const pid of tree(process.pid)) {
    let type = 'browser'
    let tids
    try {
      const m = /--type=(\S+)/.exec(fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' '))
      if (m) type = m[1]
      tids = fs.readdirSync(`/proc/${pid}/task`)
    } catch { continue }
    for (const tid of tids) {
      try {
        const { comm, f } = statFields(`/proc/${pid}/task/${tid}/stat`)
        const ticks = Number(f[11]) + Number(f[12]) // utime + stime
        const kind = pid === process.pid ? 'driver' : kinds.find(([, match]) => match(type, comm, String(pid) === tid))[0]
        threads.set(`${pid}/${tid}`, { kind, ticks })
      } catch {} // the thread ended
    }
  }
  return { at, machine, threads }
}

// account sums what happened between two snapshots: the window, the machine's busy share and CPU
// seconds, the browser's CPU seconds in all and by kind, and the driver's. A thread that ended inside the window is
// not counted (its ticks are gone with it); one that began inside it counts from zero.
export function account (a, b) {
  const seconds = (ticks) => Math.round(ticks / hz * 100) / 100
  const byKind = Object.fromEntries(kinds.map(([k]) => [k, 0]))
  let browser = 0
  let driver = 0
  for (const [key, t] of b.threads) {
    const d = t.ticks - (a.threads.get(key)?.ticks || 0)
    if (t.kind === 'driver') {
      driver += d
      continue
    }
    byKind[t.kind] += d
    browser += d
  }
  const busy = b.machine.busy - a.machine.busy
  const total = b.machine.total - a.machine.total
  return {
    windowMs: b.at - a.at,
    cores: os.cpus().length,
    machineBusy: total > 0 ? Math.round(busy / total * 1000) / 1000 : null,
    machineCpuS: seconds(busy),
    browserCpuS: seconds(browser),
    driverCpuS: seconds(driver),
    kinds: Object.fromEntries(Object.entries(byKind).map(([k, v]) => [k, seconds(v)]))
  }
}
