//go:build js

// Command swarmcast-wasm is the browser build of the swarmcast engine
// (GOOS=js GOARCH=wasm). It runs in a dedicated Web Worker started by
// web/client/swarmcast.js: Go's js runtime runs every ready goroutine before
// it yields to the browser, so on the page's own thread hashing and peer
// traffic would freeze the page.
//
// It is the same engine as the native client (package torrent), wired to
// what a worker has: WebSocket trackers (tracker/wstracker over the
// browser's WebSocket), WebRTC data channels that the page hands over
// (transport/webrtc's js build), web seeds over fetch, and storage in the
// origin private file system (storage/opfs), memory where OPFS is missing.
//
// The worker's JavaScript (web/client/worker.js) calls the engine through
// one global object, swarmcastEngine, whose methods return promises; see
// api.go.
package main

import (
	"log/slog"
	"syscall/js"
)

func main() {
	e := newEngine()
	js.Global().Set("swarmcastEngine", e.jsObject())
	// Tell worker.js the engine is ready; it queues the page's calls
	// until then.
	if ready := js.Global().Get("swarmcastEngineReady"); ready.Type() == js.TypeFunction {
		ready.Invoke()
	}
	<-e.exited
	slog.Debug("swarmcast engine exited")
}
