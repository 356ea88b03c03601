// SPDX-FileCopyrightText: 2026 The Pion community <https://pion.ly>
// SPDX-License-Identifier: MIT

package sctp

import "time"

// Pacing constants. The gains are Linux TCP's defaults (tcp_pacing_ss_ratio
// 200%, tcp_pacing_ca_ratio 120%, rounded up).
const (
	pacingGainSlowStart = 2.0
	pacingGainCA        = 1.25
	// pacingBurstMTUs is the smallest burst: what may leave at once after
	// an idle spell, in MTUs (TCP's initial window).
	pacingBurstMTUs = 10
	// pacingBurstTime is the burst as time at the pacing rate, when that is
	// more than pacingBurstMTUs: a fast path is then paced in bursts that
	// cost one timer each, not one packet each.
	pacingBurstTime = 2 * time.Millisecond
	// pacingWakeTime is how much of the rate the write loop waits for once
	// the burst is spent.
	pacingWakeTime = time.Millisecond
)

// pacer spreads DATA chunks (new ones and retransmissions) over the round
// trip: at most gain*cwnd/SRTT, with a burst of at most max(10 MTUs, 2 ms at
// that rate). Without it a sender whose data waited (the application had
// nothing to send, or head-of-line blocking held the peer's reads while a
// hole was repaired) sends a whole cwnd at once when data comes: behind a
// drop-tail queue shorter than cwnd, a burst of cwnd overflows the queue
// although cwnd is below what the path holds, and cwnd is halved again, to
// below the bandwidth-delay product. Control chunks (SACKs and the like) are
// never paced.
type pacer struct {
	rate   float64   // bytes per second for this gather; 0: not paced (no RTT yet)
	burst  float64   // the most tokens may grow to
	tokens float64   // bytes that may leave now; one packet may take it below 0
	last   time.Time // of the last refill

	timer     *time.Timer
	wakeAfter time.Time // a wake-up of the write loop is due by then
}

// paceRefill sets the rate from cwnd and SRTT and adds the tokens earned
// since the last refill. It runs once per gatherOutbound; the caller holds
// the lock.
func (a *Association) paceRefill(now time.Time) {
	p := &a.pacer
	srttMs := a.SRTT()
	if srttMs <= 0 {
		p.rate = 0
		p.last = time.Time{}

		return
	}
	gain := pacingGainCA
	if a.CWND() < a.ssthresh {
		gain = pacingGainSlowStart
	}
	p.rate = gain * float64(a.CWND()) * 1000 / srttMs
	p.burst = max(float64(pacingBurstMTUs*a.MTU()), p.rate*pacingBurstTime.Seconds())
	if p.last.IsZero() {
		p.tokens = p.burst
	} else if elapsed := now.Sub(p.last); elapsed > 0 {
		p.tokens = min(p.burst, p.tokens+p.rate*elapsed.Seconds())
	}
	p.last = now
}

// paceCanSend reports whether a DATA packet may leave now. When it may not,
// it arranges for the write loop to be woken when it may. The caller holds
// the lock.
func (a *Association) paceCanSend() bool {
	p := &a.pacer
	if p.rate == 0 || p.tokens > 0 {
		return true
	}
	now := time.Now()
	if now.Before(p.wakeAfter) {
		return false // a wake-up is already due
	}
	wait := time.Duration((-p.tokens + p.rate*pacingWakeTime.Seconds()) / p.rate * float64(time.Second))
	p.wakeAfter = now.Add(wait)
	if p.timer == nil {
		p.timer = time.AfterFunc(wait, a.awakeWriteLoop)
	} else {
		p.timer.Reset(wait)
	}

	return false
}

// paceTake takes n bytes sent from the tokens. The caller holds the lock.
func (a *Association) paceTake(n int) {
	if a.pacer.rate > 0 {
		a.pacer.tokens -= float64(n)
	}
}

// paceStop stops the pacer's timer. The caller holds the lock.
func (a *Association) paceStop() {
	if a.pacer.timer != nil {
		a.pacer.timer.Stop()
	}
}
