// Package trackerserver is a BitTorrent tracker with one store of swarms
// and three front ends: HTTP (announce and scrape, BEP 3, 7, 23, 48), UDP
// (BEP 15) and WebSocket, the signalling protocol WebTorrent peers use to
// find each other and exchange WebRTC offers and answers.
//
//	s := trackerserver.New(trackerserver.Config{})
//	go s.Serve(httpListener)     // /announce, /scrape, /stats, /metrics, and WebSocket on any path
//	go s.ServeUDP(udpSocket)     // optional
//	...
//	s.Shutdown(ctx)
//
// # The WebSocket protocol
//
// The server speaks the protocol as npm bittorrent-tracker 11's server does
// (server.js, lib/server/parse-websocket.js, lib/server/swarm.js), so that
// WebTorrent clients cannot tell the difference. Messages are JSON text;
// info_hash, peer_id, to_peer_id and offer_id are 20-character "binary
// strings", one character U+0000–U+00FF per byte. A connection may upgrade
// on any path.
//
// An announce is {"action":"announce", "info_hash", "peer_id", "event",
// "left", "numwant", "offers": [{"offer", "offer_id"}, ...]}. The reply, with
// bittorrent-tracker's key order, is
//
//	{"complete":N,"incomplete":N,"action":"announce","interval":120,"info_hash":IH}
//
// where the interval is a fifth of the HTTP interval and there is no "min
// interval" and no peer list. Each offer goes to a different random WebRTC
// peer of the swarm (never back to the sender) as
//
//	{"action":"announce","offer":OFFER,"offer_id":ID,"peer_id":FROM,"info_hash":IH}
//
// An answer is an announce with "answer", "to_peer_id" and "offer_id"; it
// gets no reply, and goes to that peer as
//
//	{"action":"announce","answer":ANSWER,"offer_id":ID,"peer_id":FROM,"info_hash":IH}
//
// A scrape is {"action":"scrape","info_hash": IH or [IH, ...]} and gets
//
//	{"action":"scrape","files":{IH:{"complete":N,"incomplete":N,"downloaded":N}},"flags":{"min_request_interval":600}}
//
// A message that cannot be parsed gets {"failure reason": R}; a refused
// announce {"action":"announce","failure reason": R,"info_hash": IH}. The
// parse failures keep bittorrent-tracker's words ("invalid info_hash",
// "invalid peer_id", "invalid `to_peer_id` (required with `answer`)",
// "invalid event").
//
// Offers and answers are relayed as the bytes they arrived as: the SDP is
// never parsed, but every message is validated as JSON first, so that what
// is spliced into another peer's message cannot break it.
//
// Where we differ from bittorrent-tracker, and why:
//   - Security. A peer ID belongs to the socket that first announced it,
//     until that socket closes: no other socket can announce, answer or
//     stop as it. A socket may own a few peer IDs (MaxPeerIDsPerConn),
//     because WebTorrent shares one socket per tracker URL among all its
//     clients in a page or process. An answer is relayed only if its
//     to_peer_id is a WebRTC peer of the same swarm that sent this very
//     socket an offer with that offer_id; each offer is answered once.
//     bittorrent-tracker relays any answer to any peer. A refused answer
//     gets a failure reason; bittorrent-tracker only logs it.
//   - "left": null counts as unknown, not as a seeder (bittorrent-tracker
//     runs Number(null), which is 0; WebTorrent sends null before it has
//     the metadata).
//   - "downloaded" is the number of "completed" events, not the seeders.
//   - A scrape without info_hash is refused instead of listing every torrent.
//   - Offers beyond MaxOffers (10) are dropped; WebTorrent sends at most 5.
//   - Limits bittorrent-tracker does not have: message size, a token bucket
//     of messages per socket, peers per torrent and in all, torrents per
//     socket, sockets, and timeouts for sockets that never announce, go
//     silent, stop answering pings or stop reading.
//
// # HTTP and UDP
//
// GET /announce answers with "complete", "incomplete", "interval", "min
// interval", "peers" (compact IPv4, BEP 23, unless compact=0 asks for the
// BEP 3 dictionaries) and "peers6" (compact IPv6, BEP 7). A peer's address
// is the one its request came from; the "ip" parameter counts only with
// Config.TrustIPParam. HTTP and UDP peers are kept by ip:port, as
// opentracker and bittorrent-tracker keep them: a new peer ID on the same
// address replaces the old entry (a restarted client), and no address can
// touch another's entry. One IP address holds at most MaxPeersPerIP entries
// of a swarm; a full swarm evicts an entry that announced long ago for a
// newcomer; an answer never lists an address twice, nor the asker's own.
// "completed" counts a download only with left=0. Refusals are a bencoded "failure reason" with status 200, as
// bittorrent-tracker and opentracker send them. GET /scrape takes several
// info_hash parameters and answers a BEP 48 "files" dictionary. GET /stats
// is JSON (see Stats), GET /metrics is Prometheus text.
//
// No UDP answer to a packet without a valid connection ID is bigger than
// the packet (a forged source must not make the tracker an amplifier):
// junk and unknown actions are dropped and counted, and the "connection ID
// expired" error is sent only when it fits.
//
// A new torrent takes a token from its source address's bucket and its /24
// or /64 network's (NewTorrentRate and friends), so that no single source
// can fill the torrent table; a full table gives up an empty torrent for a
// new one. /stats and /metrics cost the same at any number of torrents
// (counters kept as swarms change, a snapshot cached for a second) and can
// be limited to admin addresses or a token (StatsAllow, StatsToken).
//
// UDP connection IDs are an HMAC of the client's address and port and the
// current minute, so the server keeps no state per client; an ID is good
// for one to two minutes. Announces over IPv4 get 6-byte peers, over IPv6
// 18-byte peers, each of their own family only. A scrape answers up to 74
// torrents.
//
// # A cluster over NATS
//
// Server.JoinCluster makes the server one instance of a tracker that runs
// as several processes behind any load balancer, joined over NATS: each
// swarm is owned by one live instance (rendezvous hashing of the info hash
// over the instances that heartbeat on the cluster's subject), announces
// and scrapes for a swarm owned elsewhere are forwarded to its owner, and
// offers and answers go to the instance that holds the target socket, on
// that instance's own subject, as the JSON that was built for the socket
// (SDP never parsed). A socket is named cluster-wide by (instance, socket
// number); the owner binds a swarm's peer IDs to those names, so the
// anti-spoofing rules above hold across instances. An instance that dies
// loses its sockets only; its swarms move to the next instance in each
// swarm's ranking and refill as peers announce. docs/ARCHITECTURE.md
// ("Tracker cluster") has the design and its measured cost.
//
// # Performance
//
// The store is split into 256 shards by info hash, each with its own lock
// and counters. A swarm keeps its peers in dense slices with a map from peer
// ID to position: random peers are picked by walking the slice from a random
// start with a random step coprime with its length, without shuffling or
// allocating. The WebSocket path allocates nothing per message in steady
// state: messages are parsed in place by a scanner that skips SDP eight
// bytes at a time, replies and relays are built in pooled buffers, frames
// are read and written by the tracker itself on the raw socket (wsread.go,
// wswrite.go), and no timer runs per frame (the housekeeping goroutine
// enforces the timeouts instead, by closing sockets). An idle socket holds
// no buffer: its goroutine waits for data with none and takes one from a
// pool to read.
package trackerserver
