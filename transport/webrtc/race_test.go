//go:build race

package webrtc

// raceEnabled shrinks TestBulk: the race detector slows pion's SCTP stack
// about tenfold.
const raceEnabled = true
