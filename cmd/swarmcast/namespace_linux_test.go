package main

import (
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// needNamespace checks that this host lets the test make namespaces with
// `unshare FLAGS` and has the tools it names; if not, the test is skipped,
// or fails in CI, where a missing tool is a failure (as in interop/).
func needNamespace(t *testing.T, flags string, tools ...string) {
	t.Helper()
	missing := t.Skipf
	if ci := strings.ToLower(os.Getenv("CI")); ci != "" && ci != "0" && ci != "false" && ci != "no" {
		missing = t.Fatalf
	}
	for _, tool := range append([]string{"unshare"}, tools...) {
		if _, err := exec.LookPath(tool); err != nil {
			missing("needs %s (scripts/install-test-deps.sh installs it)", tool)
		}
	}
	if out, err := exec.Command("unshare", flags, "true").CombinedOutput(); err != nil {
		missing("cannot make namespaces with unshare %s here: %v %s", flags, err, out)
	}
}

// killGroupOnCancel runs cmd in a process group of its own and kills the
// whole group when its context ends, so that no child outlives the test or
// holds its output pipe open.
func killGroupOnCancel(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
}
