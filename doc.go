// Package swarmcast is a BitTorrent client for Go programs, WebTorrent's
// peers included: one call gives a client that accepts and dials TCP peers,
// trades with browsers over WebRTC, announces to HTTP, UDP and WebSocket
// trackers, fetches from web seeds, and finds peers by the DHT and local
// service discovery.
//
// # Downloading
//
//	c, err := swarmcast.NewClient(swarmcast.Config{DataDir: "downloads"})
//	if err != nil {
//		return err
//	}
//	defer c.Close()
//	t, err := c.AddMagnet("magnet:?xt=urn:btih:...", torrent.AddOptions{})
//	if err != nil {
//		return err
//	}
//	<-t.GotInfo() // the metadata came from peers
//	err = t.WaitComplete(ctx)
//
// The zero Config is a working client with the defaults of the swarmcast
// command: data in the current folder, TCP on port 6881 (any free port when
// another program holds it: Client.Addr says which), the DHT, local service
// discovery, WebRTC and web seeds on, no rate limit. A torrent comes from a
// magnet link (Client.AddMagnet) or a .torrent file (metainfo.LoadFile,
// then Client.AddTorrent); torrent.AddOptions picks files (Select), adds
// trackers and peers, and asks for data already on disk to be checked
// (Verify).
//
// # Seeding
//
// Client.Seed makes a torrent of a file or folder and seeds it from where
// it is; its magnet link is mi.Magnet(t.Info()). The same content with the
// same options always gives the same torrent.
//
// # Streaming
//
// Any file can be read while it downloads: File.NewReader returns an
// io.ReadSeekCloser whose position and readahead steer which pieces come
// first, so a video player can start at once and seek anywhere. It answers
// HTTP Range requests through http.ServeContent (see Example (Stream)); the
// package httpstream serves every torrent of a client at
// /webtorrent/<infohash>/<path>, as WebTorrent does.
//
// # Progress
//
// Torrent.Stats is a snapshot: bytes wanted and left, rates, peers by kind,
// why there are none (Warnings, LastError), and every byte counted by where
// it came from ("tcp", "webrtc", "webseed"), so a program can see what its
// origin server was spared (see Example (Progress)).
//
// # What a Client is made of
//
// The engine, package torrent, imports no transport and no tracker: a
// Client is a *torrent.Client (embedded, so its methods are the Client's)
// with these plugged in:
//
//   - TCP: a listener on Config.ListenAddr and a dialer (transport/tcp).
//   - Trackers by URL scheme: http and https (tracker/httptracker), udp
//     (tracker/udptracker, BEP 15), ws and wss (tracker/wstracker,
//     WebTorrent's WebSocket protocol, which also brings WebRTC peers).
//   - WebRTC data channels (transport/webrtc, pion underneath).
//   - Web seeds (BEP 19) from a torrent's url-list (package webseed).
//   - The DHT (BEP 5, package dht) and local service discovery (BEP 14,
//     package lsd). Both stay off on a loopback listen address, where
//     nobody they could find would reach the client: tests and examples
//     listen on "127.0.0.1:0" and send nothing off the host.
//   - Storage in files under Config.DataDir (package storage), with resume
//     data beside them, or any storage.Storage (Config.Storage).
//
// Close stops all of it: torrents, listener, DHT, local service discovery
// and tracker connections.
//
// # Stability
//
// Stable until a major version: this package's Config, Client, NewClient
// and errors, and the engine's Client, Torrent, File, Reader, AddOptions
// and Stats (package torrent), with metainfo's MetaInfo, Info, Magnet,
// Load, Parse and Create. Fields may be added to Config, AddOptions, Stats
// and CreateOptions; none is removed or renamed. Everything else (the
// transports, the tracker clients, storage backends' options, the DHT and
// LSD packages) may still change. docs/API.md in the repository lists the
// surface name by name.
package swarmcast
