package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"
)

// startProfiles writes a CPU profile to $SWARMCAST_CPUPROFILE and a heap
// profile to $SWARMCAST_MEMPROFILE, when set, for the benchmark scripts; the
// returned function ends them. The heap profile is written at exit, or
// after $SWARMCAST_MEMPROFILE_AFTER (a duration) if that is set. A "%p" in
// either path becomes the process ID, so that the several swarmcast
// processes of one benchmark (tracker instances, seeder) write files of
// their own.
func startProfiles() (stop func()) {
	memPath := profilePath(os.Getenv("SWARMCAST_MEMPROFILE"))
	writeHeap := func(path string) {
		if f, err := os.Create(path); err == nil {
			runtime.GC()
			pprof.WriteHeapProfile(f)
			f.Close()
		}
	}
	if d, err := time.ParseDuration(os.Getenv("SWARMCAST_MEMPROFILE_AFTER")); err == nil && memPath != "" {
		path := memPath
		time.AfterFunc(d, func() { writeHeap(path) })
		memPath = "" // written then, not at exit
	}
	var cpu *os.File
	if path := profilePath(os.Getenv("SWARMCAST_CPUPROFILE")); path != "" {
		f, err := os.Create(path)
		if err == nil && pprof.StartCPUProfile(f) == nil {
			cpu = f
		} else {
			fmt.Fprintln(os.Stderr, "swarmcast: no CPU profile:", err)
		}
	}
	return func() {
		if cpu != nil {
			pprof.StopCPUProfile()
			cpu.Close()
		}
		if memPath != "" {
			writeHeap(memPath)
		}
	}
}

// profilePath replaces "%p" in path with the process ID.
func profilePath(path string) string {
	return strings.ReplaceAll(path, "%p", strconv.Itoa(os.Getpid()))
}
