// SPDX-FileCopyrightText: 2026 The Pion community <https://pion.ly>
// SPDX-License-Identifier: MIT

package sctp

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// newPacingTestAssoc returns an established association with nothing in
// flight, 600 kB of cwnd in congestion avoidance, a 40 ms SRTT (0 for
// srttMs 0), a large peer window, and 1,000 chunks of 1,000 bytes waiting.
func newPacingTestAssoc(t *testing.T, srttMs float64) *Association {
	t.Helper()
	assoc := newRackTestAssoc(t)
	assoc.lock.Lock()
	defer assoc.lock.Unlock()
	assoc.myNextTSN = 100
	assoc.cumulativeTSNAckPoint = 99
	assoc.setCWND(600_000)
	assoc.ssthresh = 600_000
	assoc.setRWND(64 << 20)
	assoc.srtt.Store(srttMs)
	for i := range 1000 {
		c := mkChunk(0, time.Time{})
		c.streamSequenceNumber = uint16(i) //nolint:gosec // G115
		c.userData = make([]byte, 1000)
		assoc.pendingQueue.push(c)
	}
	t.Cleanup(func() {
		assoc.lock.Lock()
		assoc.closeAllTimers()
		assoc.lock.Unlock()
	})

	return assoc
}

func inFlight(assoc *Association) int {
	assoc.lock.RLock()
	defer assoc.lock.RUnlock()

	return assoc.inflightQueue.getNumBytes()
}

// With data waiting and cwnd open, a paced sender sends a burst, not the
// whole cwnd: at 1.25 * 600 kB / 40 ms (18.75 MB/s), 2 ms of the rate
// (37.5 kB) at once, then the rest as time passes. Without pacing the first
// gather sent all 600 kB: behind a drop-tail queue shorter than that, the
// burst overflowed it.
func TestPacingSpreadsACwndOverTheRoundTrip(t *testing.T) {
	assoc := newPacingTestAssoc(t, 40)

	_, ok := assoc.gatherOutbound()
	require.True(t, ok)
	first := inFlight(assoc)
	assert.Greater(t, first, 0, "nothing was sent")
	assert.LessOrEqual(t, first, 37_500+1000, "the first burst")

	// A wake-up of the write loop is due when the burst has been earned again.
	assoc.lock.RLock()
	due := assoc.pacer.wakeAfter
	assoc.lock.RUnlock()
	assert.WithinDuration(t, time.Now().Add(time.Millisecond), due, 2*time.Millisecond)

	// Over 20 ms about 20 ms of the rate (375 kB) more may leave, and no
	// more than that and a burst.
	start := time.Now()
	for time.Since(start) < 20*time.Millisecond {
		_, ok = assoc.gatherOutbound()
		require.True(t, ok)
		time.Sleep(time.Millisecond)
	}
	elapsed := time.Since(start)
	sent := inFlight(assoc) - first
	limit := int(18_750_000*elapsed.Seconds()) + 37_500 + 1000
	assert.LessOrEqual(t, sent, limit, "sent %d bytes in %v", sent, elapsed)
	assert.Greater(t, sent, 150_000, "sent %d bytes in %v: the pacer held back more than its rate", sent, elapsed)
	assert.LessOrEqual(t, inFlight(assoc), 600_000, "cwnd still bounds what is in flight")
}

// Before the first RTT sample there is no rate to pace at: cwnd alone
// bounds the sender, as without pacing.
func TestPacingWaitsForAnRTT(t *testing.T) {
	assoc := newPacingTestAssoc(t, 0)

	_, ok := assoc.gatherOutbound()
	require.True(t, ok)
	assert.Equal(t, 600_000, inFlight(assoc))
}

// In slow start the rate is twice cwnd per SRTT, so slow start's doubling
// is not held back.
func TestPacingRateInSlowStart(t *testing.T) {
	assoc := newPacingTestAssoc(t, 40)
	assoc.lock.Lock()
	assoc.ssthresh = 64 << 20
	assoc.paceRefill(time.Now())
	rate := assoc.pacer.rate
	assoc.lock.Unlock()
	assert.InDelta(t, 2*600_000/0.040, rate, 1)
}
