package trackerserver

import (
	"slices"

	"github.com/nats-io/nats.go"
)

// Offers and answers routed to the instance that holds the target peer's
// socket (cluster.go: membership and ownership).

// offerBatch collects the offers of one announce for one other instance,
// queued as one message: with 5 offers and a few instances, 1–2 messages per
// announce instead of 5.
type offerBatch struct {
	inst uint64
	b    []byte
}

// addOffer adds the offer out (made by peer fromID of socket from, with raw
// offer_id offerID) for socket to, on another instance, to that instance's
// message in batches, and frees out.
func addOffer(batches []offerBatch, to, from connRef, ih, fromID *[20]byte, offerID []byte, out *outMsg) []offerBatch {
	i := 0
	for i < len(batches) && batches[i].inst != to.inst {
		i++
	}
	if i == len(batches) {
		if i < cap(batches) {
			batches = batches[:i+1]
		} else {
			batches = append(batches, offerBatch{})
		}
		batches[i].inst = to.inst
		batches[i].b = appendOffersHeader(batches[i].b[:0], from, ih, fromID)
	}
	batches[i].b = appendOfferItem(batches[i].b, to.id, offerID, out.b)
	putOut(out)
	return batches
}

// partitionPicks moves the picks whose sockets are on instance inst to the
// front, and returns how many there are.
func partitionPicks(picks []pickedPeer, inst uint64) int {
	n := 0
	for i := range picks {
		if picks[i].ref.inst == inst {
			picks[i], picks[n] = picks[n], picks[i]
			n++
		}
	}
	return n
}

// relayOffers relays a forwarded announce's offers to peers the store picked
// for it (offers[i] to picks[i]), as the announcing instance would have: to
// sockets of this instance at once, to others' in one message per instance.
// The peers on the announcing instance are not among them: their offers go
// back in the reply, as picks, for that instance to relay. So an offer
// crosses the cluster after the call only if its target is on a third
// instance. It returns how many it relayed.
func (cl *cluster) relayOffers(a *wireAnnounce, picks []pickedPeer, offers []wsOffer, res *announceResult, sc *requestScratch) int {
	s := cl.s
	sc.fromJSON = appendBinaryString(sc.fromJSON[:0], a.peerID[:])
	n := 0
	for i, t := range picks {
		if i == len(offers) {
			break
		}
		o := &offers[i]
		out := getOut()
		out.b = appendRelayed(out.b, relayedOffer, o.offer, o.offerID, sc.fromJSON, res.ihJSON)
		if s.deliverOffer(t, out, a.ref, &a.infoHash, &a.peerID, o.offerID, &sc.batches, nil) {
			n++
		}
	}
	sc.batches = cl.flushOffers(sc.batches)
	return n
}

// flushOffers queues the batches and empties them for reuse.
func (cl *cluster) flushOffers(batches []offerBatch) []offerBatch {
	for i := range batches {
		cl.queueRoute(batches[i].inst, batches[i].b)
		batches[i].b = batches[i].b[:0]
	}
	return batches[:0]
}

// routeAnswer queues an answer for a socket of another instance.
func (cl *cluster) routeAnswer(to connRef, out *outMsg) bool {
	bp := cl.getBuf()
	*bp = appendAnswerRoute((*bp)[:0], to.id, out.b)
	ok := cl.queueRoute(to.inst, *bp)
	cl.putBuf(bp)
	putOut(out)
	return ok
}

// queueRoute queues a copy of an offers or answer message for instance
// inst, published in a batch shortly (routedOut counts it then).
func (cl *cluster) queueRoute(inst uint64, msg []byte) bool {
	if !cl.isLive(inst) {
		cl.ctr.routeDropped.Add(1)
		return false
	}
	_, ws := cl.subjectsOf(inst)
	return cl.routes.add(inst, ws, msg, true)
}

// queue queues a copy of a call, reply or removal for instance inst.
func (cl *cluster) queue(inst uint64, msg []byte) bool {
	if !cl.isLive(inst) {
		return false
	}
	_, ws := cl.subjectsOf(inst)
	return cl.routes.add(inst, ws, msg, false)
}

func (cl *cluster) isLive(inst uint64) bool {
	_, ok := slices.BinarySearch(*cl.live.Load(), inst)
	return ok
}

// onRoute takes what another instance sent this one's sockets subject: a
// batch, or one message. Offers and answers go to their sockets, calls and
// removals are served (as on the request subject), replies go to the calls
// that wait for them.
func (cl *cluster) onRoute(m *nats.Msg) {
	if len(m.Data) < 2 || m.Data[1] != opBatch {
		cl.route(m.Data)
		return
	}
	sc := &cl.scratch
	msgs, err := decodeBatch(m.Data, sc.items[:0])
	if err == nil {
		for _, b := range msgs {
			cl.route(b)
		}
	} else {
		cl.ctr.bad.Add(1)
	}
	clear(msgs) // hold no message's bytes until the next batch
	sc.items = msgs[:0]
}

// route handles one message of a batch.
func (cl *cluster) route(b []byte) {
	var op uint8
	if len(b) >= 2 {
		op = b[1]
	}
	switch op {
	case opCall:
		seq, from, req, err := decodeCall(b)
		if err != nil {
			cl.ctr.bad.Add(1)
			return
		}
		reply, ok := cl.serve(req, &cl.scratch)
		if !ok {
			return
		}
		sc := &cl.scratch
		sc.call = appendReplyHeader(sc.call[:0], seq)
		sc.call = append(sc.call, reply...)
		cl.queue(from, sc.call)
		return
	case opReply:
		seq, reply, err := decodeReply(b)
		if err != nil {
			cl.ctr.bad.Add(1)
			return
		}
		cl.calls.finish(seq, reply) // a reply after its call's timeout finds no call
		return
	case opRemove:
		cl.serve(b, &cl.scratch)
		return
	}
	sc := &cl.scratch
	r := wireRoute{offers: sc.offers[:0]}
	s := cl.s
	switch err := decodeRoute(b, &r); {
	case err != nil:
		cl.ctr.bad.Add(1)
	case r.op == opAnswer:
		cl.deliver(s.conns.get(r.target), r.payload, connRef{}, 0)
	default:
		for _, o := range r.offers {
			cl.deliver(s.conns.get(o.target), o.payload, r.from, s.offerKey(&r.ih, &r.fromID, o.offerID))
		}
	}
	clear(r.offers)
	sc.offers = r.offers[:0]
}

// deliver queues payload for socket c (nil: gone), as an offer from from
// with key when from is set.
func (cl *cluster) deliver(c *wsConn, payload []byte, from connRef, key uint64) {
	if c == nil {
		cl.ctr.routeDropped.Add(1)
		return
	}
	out := getOut()
	out.b = append(out.b, payload...)
	if !c.enqueue(out, from, key, &cl.ctr.routedIn) {
		cl.ctr.routeDropped.Add(1)
	}
}
