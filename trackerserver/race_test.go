//go:build race

package trackerserver

// raceEnabled: the race detector makes goroutines and allocations bigger,
// which TestSocketMemory's bound allows for.
const raceEnabled = true
