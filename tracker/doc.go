// Package tracker holds what every BitTorrent tracker client shares: the
// announce and scrape types, the Client interface, the error a tracker's
// "failure reason" becomes, compact peer lists, the BEP 12 announce-list
// tiers, and New, which opens a Client for an announce URL by its scheme.
//
// The implementations live in subpackages (tracker/httptracker,
// tracker/udptracker, and later tracker/wstracker). They import this package
// for its types, so this package cannot import them. New therefore does not
// know any implementation itself: it looks the URL's scheme up in
// Config.Schemes, a map that the caller builds, usually once in main:
//
//	cfg := tracker.Config{Schemes: tracker.Schemes{
//		"http":  httptracker.Opener(httptracker.Config{}),
//		"https": httptracker.Opener(httptracker.Config{}),
//		"udp":   udptracker.Opener(udptracker.Config{}),
//	}}
//	c, err := tracker.New("udp://tracker.example:6969/announce", cfg)
//
// We chose a caller-built map over the two alternatives for these reasons:
//   - A global registry filled by each implementation's init() would be a
//     side effect of importing a package, which our style forbids, and it
//     would make which trackers a program can reach depend on its imports.
//   - A separate package (say tracker/trackers) importing every
//     implementation would link net/http, UDP and WebSocket code into every
//     program that opens a tracker. The browser build (js/wasm) can only use
//     WebSocket trackers, and the torrent engine must not depend on net/http
//     at all (a go list -deps test enforces that): with the map, the engine
//     calls tracker.New with whatever Config it was given, and only main
//     decides which implementations, with which settings, are linked in.
//
// The map also lets each implementation keep its own Config (an *http.Client,
// UDP retransmission timeouts) without this package importing net/http.
package tracker
