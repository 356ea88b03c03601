package torrent_test

import (
	"testing"

	"go.uber.org/goleak"
)

// Every client the tests start is closed by then: no goroutine may outlive
// the tests.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
