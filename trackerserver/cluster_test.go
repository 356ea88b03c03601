package trackerserver

import (
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/swarmcast/swarmcast/metainfo"
	"github.com/swarmcast/swarmcast/tracker"
)

// TestClusterHTTPUDP: three instances; for swarms owned by each of them, an
// HTTP announce on one instance is returned by announces on the others,
// over HTTP and UDP, and scrapes on any instance count every peer.
func TestClusterHTTPUDP(t *testing.T) {
	natsBackends(t, func(t *testing.T, nb func(*testing.T) natsBackend) {
		in := startCluster(t, nb(t).url(), 3, Config{})
		ctx := testCtx(t)
		for k, owner := range in {
			ih := ownedBy(t, in, owner, byte(10+k))
			a := in[(k+1)%3]
			b := in[(k+2)%3]
			if _, err := httpClient(t, a.httpURL("/announce")).Announce(ctx, req(ih, 1, 7001)); err != nil {
				t.Fatal(err)
			}
			r, err := httpClient(t, b.httpURL("/announce")).Announce(ctx, req(ih, 2, 7002))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(r.Peers, []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:7001")}) || r.Leechers != 2 {
				t.Fatalf("owner %d: HTTP announce on another instance: %+v", k, r)
			}
			ru, err := udpClient(t, owner.udpAddr).Announce(ctx, req(ih, 3, 7003))
			if err != nil {
				t.Fatal(err)
			}
			if len(ru.Peers) != 2 || ru.Leechers != 3 {
				t.Fatalf("owner %d: UDP announce at the owner: %+v", k, ru)
			}
			ru, err = udpClient(t, a.udpAddr).Announce(ctx, req(ih, 4, 7004))
			if err != nil {
				t.Fatal(err)
			}
			if len(ru.Peers) != 3 || ru.Leechers != 4 {
				t.Fatalf("owner %d: UDP announce on another instance: %+v", k, ru)
			}
			other := ownedBy(t, in, a, byte(20+k))
			got, err := udpClient(t, b.udpAddr).Scrape(ctx, []metainfo.Hash{metainfo.Hash(ih), metainfo.Hash(other)})
			if err != nil {
				t.Fatal(err)
			}
			if got[metainfo.Hash(ih)] != (tracker.ScrapeResult{Incomplete: 4}) || got[metainfo.Hash(other)] != (tracker.ScrapeResult{}) {
				t.Fatalf("owner %d: UDP scrape: %v", k, got)
			}
			hs, err := httpClient(t, b.httpURL("/announce")).Scrape(ctx, []metainfo.Hash{metainfo.Hash(ih)})
			if err != nil {
				t.Fatal(err)
			}
			if hs[metainfo.Hash(ih)] != (tracker.ScrapeResult{Incomplete: 4}) {
				t.Fatalf("owner %d: HTTP scrape: %v", k, hs)
			}
		}
		// /metrics shows the cluster's figures too.
		resp, err := http.Get(in[0].httpURL("/metrics"))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, want := range []string{"swarmcast_tracker_cluster_instances 3", "swarmcast_tracker_cluster_forward_seconds_count",
			`swarmcast_tracker_cluster_requests_total{direction="in",result="ok"}`} {
			if !strings.Contains(string(body), want) {
				t.Errorf("/metrics lacks %q", want)
			}
		}
		// Each instance holds only the swarm it owns, and forwarded the rest.
		for k, ts := range in {
			st := ts.Stats()
			if st.Cluster == nil || st.Cluster.Instances != 3 || st.Torrents != 1 || st.Cluster.Forwarded == 0 ||
				st.Cluster.Served == 0 || st.Cluster.ForwardFailed != 0 || st.Cluster.ForwardLatencyP50 <= 0 {
				t.Fatalf("instance %d: stats %+v, cluster %+v", k, st, st.Cluster)
			}
		}
	})
}

// TestClusterWebSocket: offers and answers between sockets on different
// instances, for a swarm owned by a third; and the single tracker's rules
// against spoofing hold across instances.
func TestClusterWebSocket(t *testing.T) {
	natsBackends(t, func(t *testing.T, nb func(*testing.T) natsBackend) {
		in := startCluster(t, nb(t).url(), 3, Config{})
		ih := ownedBy(t, in, in[2], 1)
		a := dialWS(t, in[0].wsURL("/"), hash20(0xA1))
		b := dialWS(t, in[1].wsURL("/announce"), hash20(0xB1))
		a.announce(ih, nil)
		if r := a.recv(); r["incomplete"] != 1.0 {
			t.Fatalf("a's reply %v", r)
		}
		b.announce(ih, nil, sdp("b-offer"))
		if r := b.recv(); r["incomplete"] != 2.0 {
			t.Fatalf("b's reply %v", r)
		}
		offer := a.recv()
		if offer["peer_id"] != bin(b.peerID[:]) || !strings.Contains(fmt.Sprint(offer["offer"]), "b-offer") {
			t.Fatalf("a got %v", offer)
		}
		a.answer(ih, offer, sdp("a-answer"))
		ans := b.recv()
		if ans["peer_id"] != bin(a.peerID[:]) || ans["offer_id"] != offer["offer_id"] ||
			!strings.Contains(fmt.Sprint(ans["answer"]), "a-answer") {
			t.Fatalf("b got %v", ans)
		}

		// A socket on the third instance cannot take a's peer_id in the swarm.
		c := dialWS(t, in[2].wsURL("/"), a.peerID)
		c.announce(ih, nil)
		if r := c.recv(); r["failure reason"] != string(errPeerIDInUse) {
			t.Fatalf("spoofed announce: %v", r)
		}
		// Nor answer b's offer as a, nor answer it again as itself.
		c.answer(ih, offer, sdp("spoofed"))
		if r := c.recv(); r["failure reason"] != string(errPeerIDInUse) {
			t.Fatalf("spoofed answer: %v", r)
		}
		d := dialWS(t, in[2].wsURL("/"), hash20(0xD1))
		d.announce(ih, nil)
		d.recv()
		d.answer(ih, offer, sdp("never offered"))
		if r := d.recv(); !strings.Contains(fmt.Sprint(r["failure reason"]), "no offer with that `offer_id`") {
			t.Fatalf("answer to an offer never sent: %v", r)
		}
		// An offer is answered once, across instances too.
		a.answer(ih, offer, sdp("twice"))
		if r := a.recv(); !strings.Contains(fmt.Sprint(r["failure reason"]), "no offer with that `offer_id`") {
			t.Fatalf("second answer: %v", r)
		}
		if _, err := b.recvRaw(200 * time.Millisecond); err == nil {
			t.Fatal("b got a second answer")
		}

		// When b's socket closes, b leaves the swarm at its owner.
		b.c.CloseNow()
		waitFor(t, "b's peer to leave", func() bool { return in[2].Stats().PeersByProtocol.WebSocket == 2 })

		// b's offer reached a's instance: from the owner, when b's forwarded
		// announce carried it (b's instance asked for one far peer), or
		// from b's instance, which the owner told of a (asked for none, it
		// had no near peer to give). a's answer went straight to b's. The
		// offer is counted where b announced it.
		st0, st1, st2 := in[0].Stats().Cluster, in[1].Stats().Cluster, in[2].Stats().Cluster
		if st0.RoutedOut == 0 || st0.RoutedIn == 0 || st1.RoutedIn == 0 || st1.RoutedOut+st2.RoutedOut == 0 {
			t.Fatalf("routing counters: %+v %+v %+v", st0, st1, st2)
		}
		if n := in[1].Stats().WebSocket.OffersRelayed; n != 1 {
			t.Fatalf("instance 1 counts %d offers relayed, want 1", n)
		}
	})
}

// TestClusterOwnerRelaysOffers: a forwarded announce's offers reach a socket
// of the swarm's owner and one of a third instance through the owner, and
// one of the announcing instance from that instance; each answer reaches the
// offering socket.
func TestClusterOwnerRelaysOffers(t *testing.T) {
	n := startEmbeddedNATS(t)
	// Peers picked at random, not near the announcing socket first: the
	// forwarded announce carries all its offers (TestClusterNearPicks
	// has the other case).
	in := startClusterWith(t, n.url(), 3, Config{}, ClusterConfig{NearPicks: -1})
	ih := ownedBy(t, in, in[2], 2)
	peers := []*wsClient{
		dialWS(t, in[2].wsURL("/"), hash20(0xE2)), // on the owner
		dialWS(t, in[1].wsURL("/"), hash20(0xE1)), // on the announcing instance
		dialWS(t, in[0].wsURL("/"), hash20(0xE0)), // on a third
	}
	for _, p := range peers {
		p.announce(ih, nil)
		p.recv()
	}
	x := dialWS(t, in[1].wsURL("/"), hash20(0xEE))
	x.announce(ih, nil, sdp("x0"), sdp("x1"), sdp("x2"))
	if r := x.recv(); r["incomplete"] != 4.0 {
		t.Fatalf("x's reply %v", r)
	}
	offerIDs := map[any]bool{}
	for i, p := range peers {
		o := p.recv()
		if o["peer_id"] != bin(x.peerID[:]) || o["info_hash"] != bin(ih[:]) || !strings.Contains(fmt.Sprint(o["offer"]), "x") {
			t.Fatalf("peer %d got %v", i, o)
		}
		offerIDs[o["offer_id"]] = true
		p.answer(ih, o, sdp(fmt.Sprint("answer", i)))
	}
	if len(offerIDs) != 3 {
		t.Fatalf("offer IDs %v: want 3 different", offerIDs)
	}
	for range peers {
		a := x.recv()
		if !offerIDs[a["offer_id"]] || !strings.Contains(fmt.Sprint(a["answer"]), "answer") {
			t.Fatalf("x got %v", a)
		}
		delete(offerIDs, a["offer_id"])
	}
	if st := in[1].Stats(); st.WebSocket.OffersRelayed != 3 || st.WebSocket.AnswersRefused != 0 {
		t.Fatalf("announcing instance: %d offers relayed, %d answers refused; want 3, 0",
			st.WebSocket.OffersRelayed, st.WebSocket.AnswersRefused)
	}
	if st := in[2].Stats().Cluster; st.Served == 0 || st.RoutedOut < 2 {
		t.Fatalf("owner: %+v; want the call served, an offer routed to the third instance and its own peer's answer", st)
	}
	// The offer for the peer on x's own instance did not cross twice: the
	// owner named that peer in its reply, and x's instance relayed the offer
	// itself. What came into x's instance is the two answers from elsewhere.
	if st := in[1].Stats().Cluster; st.RoutedIn != 2 {
		t.Fatalf("announcing instance: %d offers and answers routed in, want the 2 answers", st.RoutedIn)
	}
}

// TestClusterNearPicks: of a WebSocket announce's 5 offers, 4 go to peers
// on the announcing socket's own instance and one to a peer on the other,
// whether that instance owns the swarm or forwards the announce to its
// owner; the answers come back, and only the far peer's crosses.
func TestClusterNearPicks(t *testing.T) {
	n := startEmbeddedNATS(t)
	in := startCluster(t, n.url(), 2, Config{})
	// A swarm for each announcing instance (so that the first announcer is
	// not among the second's peers), both owned by in[1].
	ihs := [2][20]byte{ownedBy(t, in, in[1], 3), ownedBy(t, in, in[1], 5)}
	const perInstance = 8
	var peers [2][]*wsClient
	for i := range 2 {
		for j := range perInstance {
			p := dialWS(t, in[i].wsURL("/"), hash20(byte(0x40+i*perInstance+j)))
			for _, ih := range ihs {
				p.announce(ih, nil)
				p.recv()
			}
			peers[i] = append(peers[i], p)
		}
	}
	for from := range 2 { // from in[0], which forwards; from in[1], the owner
		ih := ihs[from]
		x := dialWS(t, in[from].wsURL("/"), hash20(byte(0xF0+from)))
		routedIn := in[from].Stats().Cluster.RoutedIn
		x.announce(ih, nil, sdp("x0"), sdp("x1"), sdp("x2"), sdp("x3"), sdp("x4"))
		if r := x.recv(); r["incomplete"] != float64(2*perInstance+1) {
			t.Fatalf("x's reply %v", r)
		}
		// Every peer reads for a while; 5 of them get an offer.
		type got struct {
			inst int
			p    *wsClient
			o    map[string]any
		}
		ch := make(chan got)
		for i := range 2 {
			for _, p := range peers[i] {
				go func() {
					o, _ := p.tryRecv(time.Second)
					ch <- got{i, p, o}
				}()
			}
		}
		var offered [2]int
		var answered []got
		for range 2 * perInstance {
			g := <-ch
			if g.o == nil {
				continue
			}
			if g.o["peer_id"] != bin(x.peerID[:]) || g.o["offer"] == nil {
				t.Fatalf("a peer on instance %d got %v", g.inst, g.o)
			}
			offered[g.inst]++
			answered = append(answered, g)
		}
		if offered[from] != 4 || offered[1-from] != 1 {
			t.Fatalf("announce on instance %d: offers to %d peers there and %d on the other; want 4 and 1", from, offered[from], offered[1-from])
		}
		for _, g := range answered {
			g.p.answer(ih, g.o, sdp("answer"))
		}
		for range answered {
			if a := x.recv(); a["answer"] == nil {
				t.Fatalf("x got %v", a)
			}
		}
		// Into x's instance crossed the far peer's answer, and for the
		// forwarded announce nothing else: the owner named the 4 near
		// peers in its reply, and x's instance relayed their offers.
		if d := in[from].Stats().Cluster.RoutedIn - routedIn; d != 1 {
			t.Fatalf("announce on instance %d: %d offers and answers routed in, want the far answer", from, d)
		}
	}

	// An instance with no near peer in a swarm gets far ones for all its
	// offers: those its forwarded announce did not carry, it relays itself
	// to the peers the owner names.
	ih2 := ownedBy(t, in, in[1], 4)
	for _, p := range peers[1][:5] {
		p.announce(ih2, nil)
		p.recv()
	}
	x := dialWS(t, in[0].wsURL("/"), hash20(0xF7))
	x.announce(ih2, nil, sdp("y0"), sdp("y1"), sdp("y2"), sdp("y3"), sdp("y4"))
	x.recv()
	offerIDs := map[any]bool{}
	for _, p := range peers[1][:5] {
		o := p.recv()
		if o["peer_id"] != bin(x.peerID[:]) || offerIDs[o["offer_id"]] {
			t.Fatalf("got %v", o)
		}
		offerIDs[o["offer_id"]] = true
		p.answer(ih2, o, sdp("answer"))
	}
	for range 5 {
		if a := x.recv(); !offerIDs[a["offer_id"]] {
			t.Fatalf("x got %v", a)
		}
	}
	// 5 for the first x's announce on instance 0, and 5 for this one.
	if n := in[0].Stats().WebSocket.OffersRelayed; n != 10 {
		t.Fatalf("instance 0 counts %d offers relayed, want 10", n)
	}
}

// TestClusterInstanceDies: an instance that dies takes only its sockets:
// the others drop their peers within a few heartbeats, its swarms are owned
// again, and peers on the others still reach each other.
func TestClusterInstanceDies(t *testing.T) {
	n := startEmbeddedNATS(t)
	in := startCluster(t, n.url(), 3, Config{})
	dead := in[2]
	ih := ownedBy(t, in, dead, 1)    // the swarm whose owner dies
	kept := ownedBy(t, in, in[0], 2) // a swarm with a peer on the dying instance
	a := dialWS(t, in[0].wsURL("/"), hash20(0xA2))
	b := dialWS(t, in[1].wsURL("/"), hash20(0xB2))
	z := dialWS(t, dead.wsURL("/"), hash20(0xC2))
	for _, w := range []*wsClient{a, b, z} {
		w.announce(ih, nil)
		w.recv()
		w.announce(kept, nil)
		w.recv()
	}
	if got := in[0].Stats().PeersByProtocol.WebSocket; got != 3 {
		t.Fatalf("owner of kept has %d peers, want 3", got)
	}
	dead.Close() // its sockets close; it says it leaves
	waitInstances(t, in[:2], 2)
	waitFor(t, "the dead instance's peer to go", func() bool { return in[0].Stats().PeersByProtocol.WebSocket == 2 })
	if o := in[0].cluster.owner(&ih); o == dead.inst || o != in[1].cluster.owner(&ih) {
		t.Fatalf("the dead instance's swarm is owned by %x", o)
	}
	// The swarm refills at the next announces, and offers flow again.
	a.announce(ih, nil)
	if r := a.recv(); r["incomplete"] != 1.0 {
		t.Fatalf("refilled swarm: %v", r)
	}
	b.announce(ih, nil, sdp("after"))
	b.recv()
	if o := a.recv(); o["peer_id"] != bin(b.peerID[:]) {
		t.Fatalf("a got %v", o)
	}
}

// TestClusterInstanceSilent: an instance that stops heartbeating without
// saying goodbye (its NATS connection gone) is declared dead after three
// heartbeats.
func TestClusterInstanceSilent(t *testing.T) {
	n := startEmbeddedNATS(t)
	in := startCluster(t, n.url(), 2, Config{})
	start := time.Now()
	in[1].cluster.nc.Close()
	waitInstances(t, in[:1], 1)
	if d := time.Since(start); d > 10*testHeartbeat {
		t.Fatalf("declared dead after %v", d)
	}
}

// TestClusterNATSRestart: NATS goes away and comes back; instances
// reconnect, announces fail only while it is gone, nothing leaks (TestMain
// checks goroutines).
func TestClusterNATSRestart(t *testing.T) {
	natsBackends(t, func(t *testing.T, nb func(*testing.T) natsBackend) {
		n := nb(t)
		in := startCluster(t, n.url(), 2, Config{})
		ih := ownedBy(t, in, in[1], 3)
		ctx := testCtx(t)
		hc := httpClient(t, in[0].httpURL("/announce"))
		if _, err := hc.Announce(ctx, req(ih, 1, 7101)); err != nil {
			t.Fatal(err)
		}
		n.stop()
		waitFor(t, "a disconnect", func() bool { return in[0].Stats().Cluster.Disconnects > 0 })
		start := time.Now()
		_, err := hc.Announce(ctx, req(ih, 2, 7102))
		if err == nil || !strings.Contains(err.Error(), string(errClusterUnavailable)) {
			t.Fatalf("announce while NATS is down: %v", err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Fatalf("a failed announce took %v", d)
		}
		n.restart()
		waitFor(t, "reconnects", func() bool {
			return in[0].Stats().Cluster.Reconnects > 0 && in[1].Stats().Cluster.Reconnects > 0
		})
		waitInstances(t, in, 2)
		// Ownership may have been local to each for a moment; from now on it
		// is shared again, and announces are answered by the owner.
		if _, err := hc.Announce(ctx, req(ih, 3, 7103)); err != nil {
			t.Fatal(err)
		}
		r, err := httpClient(t, in[1].httpURL("/announce")).Announce(ctx, req(ih, 4, 7104))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(r.Peers, netip.MustParseAddrPort("127.0.0.1:7103")) {
			t.Fatalf("after the restart: %+v", r)
		}
	})
}

// TestClusterFlood: a socket that floods an instance with announces for a
// swarm owned elsewhere is closed by its instance's rate limit, as on one
// tracker, and the owner serves no more than was allowed through.
func TestClusterFlood(t *testing.T) {
	n := startEmbeddedNATS(t)
	in := startCluster(t, n.url(), 2, Config{MessageRate: 5, MessageBurst: 10})
	ih := ownedBy(t, in, in[1], 4)
	id := hash20(0xF1)
	f := dialWS(t, in[0].wsURL("/"), id)
	msg := []byte(`{"action":"announce","info_hash":"` + string(escapeBin(ih[:])) + `","peer_id":"` +
		string(escapeBin(id[:])) + `","event":"started","left":1,"numwant":0}`)
	for range 50 {
		if err := f.c.Write(testCtx(t), 1, msg); err != nil {
			break
		}
	}
	f.expectClosed()
	if served := in[1].Stats().Cluster.Served; served > 12 {
		t.Fatalf("owner served %d requests of a flood limited to a burst of 10", served)
	}
}

// escapeBin writes bytes as a JSON binary string's content (\u00XX each).
func escapeBin(b []byte) []byte {
	var out []byte
	for _, c := range b {
		out = fmt.Appendf(out, `\u%04x`, c)
	}
	return out
}

// TestClusterGarbage: whatever arrives on an instance's subjects that is not
// a well-formed message is counted and dropped; the instance keeps serving.
func TestClusterGarbage(t *testing.T) {
	n := startEmbeddedNATS(t)
	in := startCluster(t, n.url(), 2, Config{})
	nc := connectNATS(t, n.url())
	req, ws := in[1].cluster.subjectsOf(in[1].inst)
	junk := [][]byte{nil, {0}, {wireVersion}, {wireVersion, opAnnounce, 1, 2, 3}, {wireVersion, 99},
		{wireVersion, opOffer, 0, 0}, {wireVersion, opAnswer, 0, 0, 0, 0, 0, 0, 0, 0, '{', '}'},
		appendAnswerRoute(nil, 12345, []byte(`{}`))} // a socket that is not there
	for _, b := range junk {
		for _, subj := range []string{req, ws, in[1].cluster.hbSubj} {
			if err := nc.Publish(subj, b); err != nil {
				t.Fatal(err)
			}
		}
	}
	// A request that cannot be decoded gets a failure, not silence.
	m, err := nc.Request(req, []byte{wireVersion, opAnnounce, 1}, testTimeout)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := decodeAnnounceReply(m.Data, nil); err != errClusterMessage {
		t.Fatalf("reply to a malformed request: %v", err)
	}
	waitFor(t, "the junk to be counted", func() bool {
		st := in[1].Stats().Cluster
		return st.BadMessages >= uint64(len(junk)*3-3) && st.RouteDropped >= 1
	})
	ih := ownedBy(t, in, in[1], 9)
	if _, err := httpClient(t, in[0].httpURL("/announce")).Announce(testCtx(t), req0(ih)); err != nil {
		t.Fatalf("announce after the junk: %v", err)
	}
	if got := len(in[0].cluster.instances()); got != 2 {
		t.Fatalf("instance 0 sees %d instances after junk heartbeats", got)
	}
}

func req0(ih [20]byte) tracker.AnnounceRequest { return req(ih, 1, 7201) }

// TestClusterNearSet: once the owner has accepted a socket into a swarm,
// the socket's instance relays its announces' near offers itself, at once,
// from its near set: they reach their peers while the owner is held up,
// and only the far offer waits for the owner. Offers the owner finds no far
// peer for go to spare near peers. A stop and a close take the peer out of
// the near set.
func TestClusterNearSet(t *testing.T) {
	n := startEmbeddedNATS(t)
	in := startClusterWith(t, n.url(), 2, Config{}, ClusterConfig{Timeout: testTimeout})
	ih := ownedBy(t, in, in[1], 7)
	const perInstance = 6
	var peers [2][]*wsClient
	for i := range 2 {
		for j := range perInstance {
			p := dialWS(t, in[i].wsURL("/"), hash20(byte(0x40+i*perInstance+j)))
			p.announce(ih, nil)
			p.recv()
			peers[i] = append(peers[i], p)
		}
	}
	x := dialWS(t, in[0].wsURL("/"), hash20(0xF0))
	x.announce(ih, nil)
	x.recv()
	if np := in[0].Stats().Cluster.NearPeers; np != perInstance+1 {
		t.Fatalf("instance 0 has %d near peers, want %d", np, perInstance+1)
	}

	// Hold the owner up: its store's shard of the swarm locked.
	sh := in[1].store.shardFor(&ih)
	sh.mu.Lock()
	locked := true
	defer func() {
		if locked {
			sh.mu.Unlock()
		}
	}()
	x.announce(ih, nil, sdp("x0"), sdp("x1"), sdp("x2"), sdp("x3"), sdp("x4"))
	near := offersTo(t, peers[0], x, 500*time.Millisecond)
	if len(near) != 4 {
		t.Fatalf("%d near peers got an offer while the owner was held up, want 4", len(near))
	}
	if r, _ := x.tryRecv(100 * time.Millisecond); r != nil {
		t.Fatalf("x got %v while the owner was held up", r)
	}
	sh.mu.Unlock()
	locked = false
	if r := x.recv(); r["incomplete"] != float64(2*perInstance+1) {
		t.Fatalf("x's reply %v", r)
	}
	far := offersTo(t, peers[1], x, time.Second)
	if len(far) != 1 {
		t.Fatalf("%d far peers got an offer, want 1", len(far))
	}
	for p, o := range joinOffers(near, far) {
		p.answer(ih, o, sdp("answer"))
	}
	for range 5 {
		if a := x.recv(); a["answer"] == nil {
			t.Fatalf("x got %v", a)
		}
	}
	if st := in[0].Stats(); st.Cluster.NearRelayed != 4 || st.WebSocket.OffersRelayed != 5 {
		t.Fatalf("instance 0: %d offers relayed from its near set, %d in all; want 4 and 5",
			st.Cluster.NearRelayed, st.WebSocket.OffersRelayed)
	}

	// A swarm with no far peer: the offer meant for one goes to a spare
	// near peer once the owner has said it found none.
	ih2 := ownedBy(t, in, in[1], 8)
	for _, p := range append([]*wsClient{x}, peers[0]...) {
		p.announce(ih2, nil)
		p.recv()
	}
	x.announce(ih2, nil, sdp("y0"), sdp("y1"), sdp("y2"), sdp("y3"), sdp("y4"))
	x.recv()
	got := offersTo(t, peers[0], x, time.Second)
	ids := map[any]bool{}
	for _, o := range got {
		ids[o["offer_id"]] = true
	}
	if len(got) != 5 || len(ids) != 5 {
		t.Fatalf("%d near peers got %d distinct offers, want 5 and 5", len(got), len(ids))
	}
	if nr := in[0].Stats().Cluster.NearRelayed; nr != 4+5 {
		t.Fatalf("%d offers relayed from the near set, want 9", nr)
	}

	// x stops in one swarm; a near peer closes its socket (in both).
	before := in[0].Stats().Cluster.NearPeers
	x.announce(ih, map[string]any{"event": "stopped"})
	x.recv()
	peers[0][0].c.CloseNow()
	waitFor(t, "the near set to lose x in one swarm and a closed socket in two", func() bool {
		return in[0].Stats().Cluster.NearPeers == before-3
	})
}

// offersTo reads from every peer for up to d and returns the offers from
// `from` that arrived, by peer; it fails on anything else.
func offersTo(t *testing.T, peers []*wsClient, from *wsClient, d time.Duration) map[*wsClient]map[string]any {
	t.Helper()
	type got struct {
		p *wsClient
		o map[string]any
	}
	ch := make(chan got)
	for _, p := range peers {
		go func() {
			o, _ := p.tryRecv(d)
			ch <- got{p, o}
		}()
	}
	offers := map[*wsClient]map[string]any{}
	for range peers {
		g := <-ch
		if g.o == nil {
			continue
		}
		if g.o["peer_id"] != bin(from.peerID[:]) || g.o["offer"] == nil {
			t.Fatalf("a peer got %v", g.o)
		}
		offers[g.p] = g.o
	}
	return offers
}

func joinOffers(a, b map[*wsClient]map[string]any) map[*wsClient]map[string]any {
	m := maps.Clone(a)
	maps.Copy(m, b)
	return m
}
