package main

import (
	"os"
	"strconv"
	"testing"
)

// TestProfilePath: "%p" becomes the process ID, every time it appears; a
// path without it is kept as given.
func TestProfilePath(t *testing.T) {
	pid := strconv.Itoa(os.Getpid())
	for in, want := range map[string]string{
		"cpu.prof":        "cpu.prof",
		"cpu.%p.prof":     "cpu." + pid + ".prof",
		"%p/%p":           pid + "/" + pid,
		"":                "",
		"percent%%p.prof": "percent%" + pid + ".prof",
	} {
		if got := profilePath(in); got != want {
			t.Errorf("profilePath(%q) = %q, want %q", in, got, want)
		}
	}
}
