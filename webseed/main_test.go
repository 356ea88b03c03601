package webseed_test

import (
	"testing"

	"go.uber.org/goleak"
)

// Every fetcher, keep-alive and engine goroutine ends when its conn or
// client closes.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
