// Package testenv holds what tests in several packages ask of the machine
// they run on. Only tests import it.
package testenv

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// CI reports whether the tests run in CI (CI set to anything but "", "0",
// "false" or "no"), where a missing tool is a failure, not a skip.
func CI() bool {
	switch strings.ToLower(os.Getenv("CI")) {
	case "", "0", "false", "no":
		return false
	}
	return true
}

// Missing skips the test, or fails it in CI, saying what is missing.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if CI() {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}

// NeedNamespace checks that the test can make namespaces with
// `unshare FLAGS` here and that the programs it names are installed; if not,
// it calls Missing.
func NeedNamespace(t testing.TB, flags string, programs ...string) {
	t.Helper()
	for _, p := range append([]string{"unshare"}, programs...) {
		if _, err := exec.LookPath(p); err != nil {
			Missing(t, "needs %s (scripts/install-test-deps.sh installs it)", p)
		}
	}
	if out, err := exec.Command("unshare", flags, "true").CombinedOutput(); err != nil {
		Missing(t, "cannot make namespaces with unshare %s here: %v %s", flags, err, out)
	}
}
