// SPDX-FileCopyrightText: 2026 The Pion community <https://pion.ly>
// SPDX-License-Identifier: MIT

package sctp

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// hystartPath runs the sender's side of slow start against a path with a
// 40 ms round trip and a bottleneck: each 1,000-byte chunk's RTT is 40 ms
// plus the queue it met, 0.2 ms for every chunk in flight beyond bdp when
// it was sent (5 MB/s), plus extra(sent) for the sent-th chunk. The sender
// keeps cwnd in flight and each SACK acknowledges the two oldest chunks.
// It stops after acks SACKs and returns the cwnd at which HyStart++ entered
// CSS (0 if it did not).
func hystartPath(t *testing.T, assoc *Association, bdp, acks int, extra func(sent int) time.Duration) (cssAt uint32) {
	t.Helper()
	const size = 1000
	assoc.lock.Lock()
	defer assoc.lock.Unlock()
	// Slow start grows cwnd only while data waits to be sent.
	assoc.pendingQueue.push(mkChunk(0, time.Time{}))
	assoc.setCWND(4 * size)
	type sent struct {
		tsn uint32
		rtt time.Duration
	}
	var flight []sent
	n := 0
	for range acks {
		for len(flight)*size < int(assoc.CWND()) {
			rtt := 40*time.Millisecond + extra(n)
			if q := len(flight) - bdp; q > 0 {
				rtt += time.Duration(q) * 200 * time.Microsecond
			}
			c := mkChunk(assoc.myNextTSN, time.Time{})
			c.userData = make([]byte, size)
			assoc.inflightQueue.pushNoCheck(c)
			flight = append(flight, sent{assoc.myNextTSN, rtt})
			assoc.myNextTSN++
			n++
		}
		now := time.Now()
		for _, s := range flight[:2] {
			c, ok := assoc.inflightQueue.get(s.tsn)
			require.True(t, ok)
			c.since = now.Add(-s.rtt)
		}
		_, err := assoc.processAcknowledgement(&chunkSelectiveAck{
			cumulativeTSNAck:               flight[1].tsn,
			advertisedReceiverWindowCredit: 64 << 20,
		})
		require.NoError(t, err)
		flight = flight[2:]
		if cssAt == 0 && assoc.hystart.inCSS {
			cssAt = assoc.CWND()
		}
	}

	return cssAt
}

func newHystartTestAssoc(t *testing.T) *Association {
	t.Helper()
	assoc := newRackTestAssoc(t)
	assoc.lock.Lock()
	assoc.myNextTSN = 100
	assoc.ssthresh = 64 << 20
	// Acknowledged bytes count toward cwnd through the stream that sent them.
	stream := assoc.createStream(1, false)
	require.NotNil(t, stream)
	stream.bufferedAmount = 1 << 40 // what the chunks would have added when written
	assoc.lock.Unlock()
	t.Cleanup(func() { assoc.t3RTX.stop() })

	return assoc
}

func noExtra(int) time.Duration { return 0 }

// A queue building at a 200-chunk bottleneck ends slow start near the
// bottleneck's window, not after cwnd has doubled again and again; after
// CSS_ROUNDS rounds of conservative growth ssthresh is set and congestion
// avoidance begins (RFC 9406 4.2).
func TestHyStartLeavesSlowStartWhenTheQueueBuilds(t *testing.T) {
	assoc := newHystartTestAssoc(t)
	cssAt := hystartPath(t, assoc, 200, 3000, noExtra)

	require.NotZero(t, cssAt, "HyStart++ never entered CSS; cwnd=%d", assoc.CWND())
	// The samples of a round are of chunks sent in the round before, so the
	// rise shows one round late: the round that put 258 chunks or more in
	// flight, every one at least 11 ms over the base RTT, is acknowledged
	// while cwnd doubles from 514 chunks. Standard slow start goes on to
	// double it again and again.
	assert.Less(t, cssAt, uint32(700_000), "CSS entered at cwnd=%d", cssAt)
	assert.True(t, assoc.hystart.done, "CSS did not end in congestion avoidance")
	assert.Less(t, assoc.ssthresh, uint32(64<<20), "ssthresh was not set")
	// Five rounds of a quarter of slow start's growth: at most 1.25^5 (3.05)
	// times the cwnd at which CSS began.
	assert.Less(t, assoc.ssthresh, cssAt*31/10, "ssthresh=%d", assoc.ssthresh)
}

// With no queue the RTT does not rise and slow start goes on as before.
func TestHyStartKeepsSlowStartWithoutAQueue(t *testing.T) {
	assoc := newHystartTestAssoc(t)
	cssAt := hystartPath(t, assoc, 1<<30, 3000, noExtra)

	assert.Zero(t, cssAt)
	assert.False(t, assoc.hystart.done)
	assert.Greater(t, assoc.CWND(), uint32(4_000_000), "slow start should have doubled cwnd on every round")
}

// A rise in RTT that is not a queue (here 20 ms added to 400 chunks, then
// gone) sends HyStart++ into CSS and back to slow start when the RTT falls.
func TestHyStartResumesSlowStartWhenTheRTTFalls(t *testing.T) {
	assoc := newHystartTestAssoc(t)
	spike := func(n int) time.Duration {
		if n >= 200 && n < 600 {
			return 20 * time.Millisecond
		}

		return 0
	}
	cssAt := hystartPath(t, assoc, 1<<30, 3000, spike)

	require.NotZero(t, cssAt, "the spike should have started CSS")
	assert.False(t, assoc.hystart.inCSS)
	assert.False(t, assoc.hystart.done)
	assert.Greater(t, assoc.CWND(), uint32(4_000_000), "slow start should have resumed")
}

// A loss ends HyStart++: after it, slow start (after an RTO) is standard.
func TestHyStartEndsOnLoss(t *testing.T) {
	assoc := newHystartTestAssoc(t)
	hystartPath(t, assoc, 1<<30, 50, noExtra)
	require.False(t, assoc.hystart.done)
	assoc.onRetransmissionTimeout(timerT3RTX, 1)
	assert.True(t, assoc.hystart.done)
}
