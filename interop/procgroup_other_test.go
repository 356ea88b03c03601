//go:build !unix

package interop

import (
	"os"
	"os/exec"
)

// Without Unix process groups, a program is stopped alone.

func inOwnGroup(*exec.Cmd) {}

func interruptGroup(cmd *exec.Cmd) error { return cmd.Process.Signal(os.Interrupt) }

func killGroup(*exec.Cmd) {}
