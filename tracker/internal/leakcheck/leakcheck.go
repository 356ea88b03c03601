// Package leakcheck finds goroutines that a test started and left running.
// It stands in for go.uber.org/goleak, which the module does not depend on.
//
// Check compares goroutine IDs, not counts, so goroutines that existed before
// the test and exit during it cannot hide a leak. Tests that use it must not
// run in parallel with others: their goroutines would look like leaks.
package leakcheck

import (
	"bytes"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Wait is how long Check waits for goroutines to exit after the test: long
// enough for closed sockets and cancelled requests to unwind on a loaded CI
// machine, short enough to keep a failing run quick.
const Wait = 5 * time.Second

// ignored are goroutines that outlive tests by design in the standard library.
var ignored = []string{
	"testing.(*T).Run",
	"testing.tRunner(",
	"testing.runFuzzing",
	"testing.(*F).Fuzz",
	"runtime.goexit0",
	"os/signal.signal_recv",
	"runtime.ensureSigM",
}

// Check records the goroutines running now and registers a cleanup that
// fails t if goroutines started since are still running Wait after the test
// (and its other cleanups registered after Check) end.
func Check(t testing.TB) {
	t.Helper()
	before := goroutines()
	t.Cleanup(func() {
		deadline := time.Now().Add(Wait)
		var leaked []string
		for {
			leaked = leaked[:0]
			for id, stack := range goroutines() {
				if _, ok := before[id]; !ok && !isIgnored(stack) {
					leaked = append(leaked, stack)
				}
			}
			if len(leaked) == 0 || time.Now().After(deadline) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if len(leaked) > 0 {
			t.Errorf("leakcheck: %d goroutine(s) leaked:\n\n%s", len(leaked), strings.Join(leaked, "\n\n"))
		}
	})
}

func isIgnored(stack string) bool {
	// The goroutine running the cleanup itself is the test's own.
	if strings.Contains(stack, "leakcheck.Check.func1") {
		return true
	}
	for _, s := range ignored {
		if strings.Contains(stack, s) {
			return true
		}
	}
	return false
}

// goroutines returns the stack of every goroutine, keyed by goroutine ID.
func goroutines() map[uint64]string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	out := make(map[uint64]string)
	for _, g := range bytes.Split(buf, []byte("\n\n")) {
		// Each block starts "goroutine 123 [state]:".
		rest, ok := bytes.CutPrefix(g, []byte("goroutine "))
		if !ok {
			continue
		}
		idStr, _, ok := bytes.Cut(rest, []byte(" "))
		if !ok {
			continue
		}
		id, err := strconv.ParseUint(string(idStr), 10, 64)
		if err != nil {
			continue
		}
		out[id] = string(g)
	}
	return out
}
