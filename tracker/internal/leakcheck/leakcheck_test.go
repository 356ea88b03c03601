package leakcheck

import (
	"fmt"
	"strings"
	"testing"
)

// recorder is a testing.TB that keeps cleanups and errors for inspection.
type recorder struct {
	testing.TB
	cleanups []func()
	errors   []string
}

func (r *recorder) Helper()          {}
func (r *recorder) Cleanup(f func()) { r.cleanups = append(r.cleanups, f) }
func (r *recorder) Errorf(format string, a ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, a...))
}

func (r *recorder) finish() {
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
}

func TestCheck(t *testing.T) {
	t.Run("clean", func(t *testing.T) {
		r := &recorder{TB: t}
		Check(r)
		done := make(chan struct{})
		go func() { <-done }()
		close(done)
		r.finish()
		if len(r.errors) != 0 {
			t.Fatalf("reported a leak: %v", r.errors)
		}
	})
	t.Run("leak", func(t *testing.T) {
		if testing.Short() {
			t.Skip("waits the full Wait")
		}
		r := &recorder{TB: t}
		Check(r)
		stop := make(chan struct{})
		defer close(stop)
		go leaker(stop)
		r.finish()
		if len(r.errors) != 1 || !strings.Contains(r.errors[0], "leaker") {
			t.Fatalf("errors = %v, want one naming leaker", r.errors)
		}
	})
}

func leaker(stop chan struct{}) { <-stop }
