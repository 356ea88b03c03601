// Package swarmcast is a BitTorrent client for Go programs, WebTorrent's
// peers included: one call gives a client that accepts and dials TCP peers,
// trades with browsers over WebRTC, announces to HTTP, UDP and WebSocket
// trackers, fetches from web seeds, and finds peers by the DHT and local
// service discovery.
//
//	c, err := swarmcast.NewClient(swarmcast.Config{DataDir: "downloads"})
//	if err != nil { ... }
//	defer c.Close()
//	t, err := c.AddMagnet("magnet:?xt=urn:btih:...", torrent.AddOptions{})
//	<-t.GotInfo()
//	err = t.WaitComplete(ctx)
//
// # Streaming
//
// Any file can be read while it downloads: File.NewReader returns an
// io.ReadSeekCloser whose position and readahead steer which pieces come
// first, so a video player can start at once and seek anywhere. It serves
// HTTP Range requests through http.ServeContent, as the Example shows; the
// package httpstream serves every torrent of a client at
// /webtorrent/<infohash>/<path>, as WebTorrent does.
//
// # What a Client is made of
//
// The engine, package torrent, imports no transport and no tracker: a
// Client is a *torrent.Client (embedded, so its methods are the Client's)
// with these plugged in, each with the default the swarmcast command uses:
//
//   - TCP: a listener on Config.ListenAddr (by default :6881, or any free
//     port when another program holds it) and a dialer (transport/tcp).
//   - Trackers by URL scheme: http and https (tracker/httptracker), udp
//     (tracker/udptracker, BEP 15), ws and wss (tracker/wstracker,
//     WebTorrent's WebSocket protocol, which also brings WebRTC peers).
//   - WebRTC data channels (transport/webrtc, pion underneath).
//   - Web seeds (BEP 19) from a torrent's url-list (package webseed).
//   - The DHT (BEP 5, package dht) and local service discovery (BEP 14,
//     package lsd); both stay off on a loopback listen address, where
//     nobody they could find would reach the client.
//   - Storage in files under Config.DataDir (package storage), with resume
//     data beside them, or any storage.Storage.
//
// Every byte is counted by where it came from ("tcp", "webrtc", "webseed")
// in Torrent.Stats, so a program can see what its origin server was spared.
//
// # Stability
//
// The names documented in docs/API.md as stable keep their meaning until a
// major version: this package's Config, Client and NewClient, and the
// engine's Client, Torrent, File, Reader, AddOptions and Stats. Fields may
// be added to Config, AddOptions and Stats; none is removed or renamed. The
// other packages may still change.
package swarmcast
