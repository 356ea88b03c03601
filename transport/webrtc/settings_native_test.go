//go:build !js

package webrtc

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"
)

// recordHandler keeps the records logged at warning level and above.
type recordHandler struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (h *recordHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (h *recordHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.recs = append(h.recs, r)
	return nil
}
func (h *recordHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recordHandler) WithGroup(string) slog.Handler      { return h }

func attr(r slog.Record, key string) slog.Value {
	var v slog.Value
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == key {
			v = a.Value
			return false
		}
		return true
	})
	return v
}

// TestPionWarningsSurface checks that what pion logs about lost or refused
// packets reaches a logger that keeps only warnings, mux and ICE drops counted and
// reported at most once per interval, while routine messages stay at debug.
func TestPionWarningsSurface(t *testing.T) {
	h := &recordHandler{}
	f := newPionLoggerFactory(slog.New(h))
	now := time.Unix(1000, 0)
	f.drops.now = func() time.Time { return now }
	mux, sctp, ice := f.NewLogger("mux"), f.NewLogger("sctp"), f.NewLogger("ice")

	for range 3 {
		mux.Infof(pionMuxDropMsg)
		ice.Warnf(pionICEDropFmt, "packetio.Buffer is full, discarding write")
	}
	now = now.Add(pionDropReportInterval)
	mux.Infof(pionMuxDropMsg)
	sctp.Warnf("[%s] protocol violation: %s", "0xc0", "bad chunk")
	sctp.Warnf("[%s] failed to write packets on netConn: %v", "0xc0", "closed")
	sctp.Warnf("[%s] not using ForwardTSN (on %s)", "0xc0", "INIT")
	ice.Warnf("routine: %d", 1)

	// Drops within the interval after a report are reported when the
	// connection closes.
	mux.Infof(pionMuxDropMsg)
	mux.Infof(pionMuxDropMsg)
	f.drops.flush(f.log)
	f.drops.flush(f.log) // nothing new: no report

	if len(h.recs) != 4 {
		for _, r := range h.recs {
			t.Log(r.Message)
		}
		t.Fatalf("%d warnings, want 4 (first drop, drops after the interval, the protocol violation, the flush)", len(h.recs))
	}
	if d, tot := attr(h.recs[0], "dropped").Int64(), attr(h.recs[0], "total").Int64(); d != 1 || tot != 1 {
		t.Errorf("first report: dropped %d, total %d; want 1, 1", d, tot)
	}
	if d, tot := attr(h.recs[1], "dropped").Int64(), attr(h.recs[1], "total").Int64(); d != 6 || tot != 7 {
		t.Errorf("second report: dropped %d, total %d; want 6, 7", d, tot)
	}
	if want := "webrtc: pion: [0xc0] protocol violation: bad chunk"; h.recs[2].Message != want {
		t.Errorf("third warning %q, want %q", h.recs[2].Message, want)
	}
	if d, tot := attr(h.recs[3], "dropped").Int64(), attr(h.recs[3], "total").Int64(); d != 2 || tot != 9 {
		t.Errorf("report at close: dropped %d, total %d; want 2, 9", d, tot)
	}
}
