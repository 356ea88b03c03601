//go:build unix

package interop

import (
	"os/exec"
	"syscall"
)

// inOwnGroup makes cmd the leader of a process group of its own, so that a test stops the program
// together with whatever it started (helpers, renderer processes) and none outlives the test.
func inOwnGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

// interruptGroup sends SIGINT to cmd's whole process group.
func interruptGroup(cmd *exec.Cmd) error {
	return syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
}

// killGroup kills cmd's process group (what is left of it, once cmd itself has exited); an empty
// group is no error.
func killGroup(cmd *exec.Cmd) {
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
}
