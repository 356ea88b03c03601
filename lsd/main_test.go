package lsd

import (
	"testing"

	"go.uber.org/goleak"
)

// A closed Service leaves no goroutine behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
