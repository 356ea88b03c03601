package trackerserver

import (
	"net"
	"net/netip"
	"sync"
)

// A UDP socket is read by one goroutine. Alone, it answers each packet
// before reading the next, in microseconds; in a cluster an announce may wait
// for another instance's answer (about 100 µs over loopback NATS, up to
// ClusterConfig.Timeout when the owner is gone), so packets go to workers
// instead, through a bounded queue: a full queue drops the packet (the
// client retransmits, BEP 15), and each drop is counted in UDPDropped.
const (
	// udpClusterWorkers is how many announces of one socket may wait for
	// owners at once: at ~100 µs a round trip, 64 carry ~600,000 a second.
	udpClusterWorkers = 64
	// udpClusterQueue bounds the packets waiting for a worker.
	udpClusterQueue = 4096
)

type udpJob struct {
	pkt  []byte
	from netip.AddrPort
}

type udpWorkers struct {
	jobs chan udpJob
	pool sync.Pool
	wg   sync.WaitGroup
	s    *Server
}

func (s *Server) startUDPWorkers(pc net.PacketConn) *udpWorkers {
	w := &udpWorkers{jobs: make(chan udpJob, udpClusterQueue), s: s}
	w.pool.New = func() any { b := make([]byte, 0, udpMaxPacket); return &b }
	fast, _ := pc.(udpPacketConn)
	for range udpClusterWorkers {
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			u := s.newUDPHandler()
			for j := range w.jobs {
				out := u.handle(j.pkt, j.from)
				w.put(j.pkt)
				if len(out) == 0 {
					continue
				}
				if fast != nil {
					fast.WriteToUDPAddrPort(out, j.from)
				} else {
					pc.WriteTo(out, net.UDPAddrFromAddrPort(j.from))
				}
			}
		}()
	}
	return w
}

func (w *udpWorkers) put(b []byte) {
	b = b[:0]
	w.pool.Put(&b)
}

// submit queues a copy of pkt, or drops it when the queue is full.
func (w *udpWorkers) submit(pkt []byte, from netip.AddrPort) {
	bp := w.pool.Get().(*[]byte)
	b := append((*bp)[:0], pkt...)
	select {
	case w.jobs <- udpJob{pkt: b, from: from}:
	default:
		w.put(b)
		w.s.ctr.udpPackets.Add(1)
		w.s.ctr.udpBad.Add(1)
		w.s.ctr.udpDropped.Add(1)
	}
}

// stop lets the workers finish what is queued and waits for them.
func (w *udpWorkers) stop() {
	close(w.jobs)
	w.wg.Wait()
}
