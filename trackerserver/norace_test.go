//go:build !race

package trackerserver

const raceEnabled = false
