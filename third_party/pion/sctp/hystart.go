// SPDX-FileCopyrightText: 2026 The Pion community <https://pion.ly>
// SPDX-License-Identifier: MIT

package sctp

import "time"

// HyStart++ (RFC 9406) constants.
const (
	hystartMinRTTThresh     = 4 * time.Millisecond
	hystartMaxRTTThresh     = 16 * time.Millisecond
	hystartMinRTTDivisor    = 8
	hystartNRTTSample       = 8
	hystartCSSGrowthDivisor = 4
	hystartCSSRounds        = 5
)

// hystart is the state of HyStart++ (RFC 9406) during the initial slow start.
// Slow start doubles cwnd every round trip until a loss, so on a path with a
// drop-tail bottleneck it overshoots by up to a whole window: hundreds of
// chunks are lost at once, cwnd is halved once or twice, and congestion
// avoidance then climbs back one MTU per round trip. HyStart++ leaves slow
// start when the round's smallest RTT rises (a queue is building), grows
// cwnd a quarter as fast for a few rounds (Conservative Slow Start), and
// then enters congestion avoidance; it returns to slow start if the delay
// rise was not a queue.
type hystart struct {
	done    bool // a loss was seen, or CSS ended: standard congestion control from now on
	inCSS   bool
	started bool // a round is under way

	windowEnd          uint32        // the round ends when the cumulative TSN ack reaches it
	lastRoundMinRTT    time.Duration // 0: no sample
	currentRoundMinRTT time.Duration // 0: no sample
	samples            int           // RTT samples in the current round
	cssBaseline        time.Duration
	cssRounds          int

	// ackSample is the smallest RTT sample of the SACK being processed (from
	// chunks sent once), 0 for none.
	ackSample time.Duration
}

// hystartSample records the RTT of a newly acknowledged chunk for HyStart++.
// The caller holds the lock.
func (a *Association) hystartSample(c *chunkPayloadData, now time.Time) {
	if a.hystart.done || c.nSent != 1 {
		return
	}
	if rtt := now.Sub(c.since); rtt > 0 && (a.hystart.ackSample == 0 || rtt < a.hystart.ackSample) {
		a.hystart.ackSample = rtt
	}
}

// hystartEnd ends HyStart++ for the association's life (RFC 9406 4.2: on a
// loss, and once CSS is over). The caller holds the lock.
func (a *Association) hystartEnd() {
	a.hystart.done = true
	a.hystart.inCSS = false
}

// hystartOnAck applies HyStart++ to a SACK that advanced the cumulative TSN
// ack point in slow start, and returns the cwnd increase to apply instead of
// inc (the increase standard slow start would make). It may end slow start
// by setting ssthresh to cwnd. The caller holds the lock.
func (a *Association) hystartOnAck(inc uint32) uint32 {
	h := &a.hystart
	sample := h.ackSample
	h.ackSample = 0
	if h.done {
		return inc
	}
	if !h.started || sna32GTE(a.cumulativeTSNAckPoint, h.windowEnd) {
		if h.started && h.inCSS {
			h.cssRounds++
			if h.cssRounds >= hystartCSSRounds {
				// RFC 9406 4.2: enter congestion avoidance.
				a.hystartEnd()
				a.ssthresh = a.CWND()
				a.log.Debugf("[%s] HyStart++: CSS over, congestion avoidance at cwnd=%d", a.name, a.CWND())

				return 0
			}
		}
		h.started = true
		h.windowEnd = a.myNextTSN - 1
		h.lastRoundMinRTT = h.currentRoundMinRTT
		h.currentRoundMinRTT = 0
		h.samples = 0
	}
	if sample > 0 {
		if h.currentRoundMinRTT == 0 || sample < h.currentRoundMinRTT {
			h.currentRoundMinRTT = sample
		}
		h.samples++
	}
	if h.samples >= hystartNRTTSample && h.currentRoundMinRTT > 0 && h.lastRoundMinRTT > 0 {
		if h.inCSS {
			if h.currentRoundMinRTT < h.cssBaseline {
				// The rise was not a queue: back to slow start.
				h.inCSS = false
				h.cssRounds = 0
				a.log.Debugf("[%s] HyStart++: RTT fell, slow start again at cwnd=%d", a.name, a.CWND())
			}
		} else {
			thresh := max(hystartMinRTTThresh, min(h.lastRoundMinRTT/hystartMinRTTDivisor, hystartMaxRTTThresh))
			if h.currentRoundMinRTT >= h.lastRoundMinRTT+thresh {
				h.inCSS = true
				h.cssRounds = 0
				h.cssBaseline = h.currentRoundMinRTT
				a.log.Debugf("[%s] HyStart++: RTT %v after %v, conservative slow start at cwnd=%d",
					a.name, h.currentRoundMinRTT, h.lastRoundMinRTT, a.CWND())
			}
		}
	}
	if h.inCSS {
		return inc / hystartCSSGrowthDivisor
	}

	return inc
}
