package torrent_test

import (
	"testing"

	"go.uber.org/goleak"
)

// Every client the tests start is closed by then: no goroutine may outlive
// the tests. Under GOOS=js the runtime's own runtime.handleEvent goroutine
// (it runs JavaScript's callbacks, parked in runtime.gopark) is no leak of ours.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("runtime.handleEvent"))
}
