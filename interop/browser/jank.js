// jank.js measures a test page's responsiveness while it works, the same way on every page
// (browser/swarmcast.html and browser/webtorrent.html load it first): the longest task the browser
// reports (Long Tasks API: tasks over 50 ms), how many there were and their total time, and the longest
// lateness of a 20 ms timer (which also sees tasks the API misses). The page spreads
// window.swarmcastJank into its "done" event.
'use strict'
window.swarmcastJank = { longestTaskMs: 0, longTasks: 0, longTasksMs: 0, maxTimerLagMs: 0 }
;(() => {
  const jank = window.swarmcastJank
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        jank.longTasks++
        jank.longTasksMs += Math.round(e.duration)
        jank.longestTaskMs = Math.max(jank.longestTaskMs, Math.round(e.duration))
      }
    }).observe({ type: 'longtask', buffered: true })
  } catch (err) { /* no Long Tasks API: the timer still measures */ }
  let lastTick = performance.now()
  setInterval(() => {
    const t = performance.now()
    jank.maxTimerLagMs = Math.max(jank.maxTimerLagMs, Math.round(t - lastTick - 20))
    lastTick = t
  }, 20)
})()
