//go:build linux

// Command loadgen drives a WebTorrent WebSocket tracker the way a crowd of
// WebTorrent clients does, for bench/tracker/tracker.sh: it opens many
// sockets, announces each into one of a few torrents, then sends announces
// with offers at a steady rate for a while, answering every offer it is
// relayed, and measures the CPU time the tracker process spent meanwhile.
//
//	loadgen -url ws://127.0.0.1:8000 -pid PID [-clients 1000] [-torrents 10] [-rate 2000] [-duration 10s]
//
// It prints one JSON object: what it sent and received, the tracker's CPU
// seconds over the measured window (from /proc/PID/stat), and the offer-relay
// latency: for each offer a client receives, the time since the announce that
// carried it was handed to the socket (p50, p99 and max, in milliseconds). An
// offer's id holds the number of the announce it came in, so each relayed
// offer is matched with its own announce. With several URLs (a cluster's
// instances), the same figures for the offers that crossed between
// instances (sender and receiver on different URLs) are given apart.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coder/websocket"
)

func main() {
	url := flag.String("url", "", "tracker `URL` (ws://HOST:PORT); several, comma-separated, spread the clients over them (the instances of a tracker cluster)")
	pid := flag.String("pid", "", "tracker process `ID`s, comma-separated, whose CPU time and RSS are measured (summed)")
	clients := flag.Int("clients", 1000, "WebSocket clients (`N`), one peer each")
	torrents := flag.Int("torrents", 10, "torrents the clients are spread over")
	offers := flag.Int("offers", 5, "offers per announce (WebTorrent sends 5)")
	rate := flag.Int("rate", 2000, "announces per second over all clients")
	duration := flag.Duration("duration", 10*time.Second, "measured time")
	answer := flag.Bool("answer", true, "answer every relayed offer, as a WebTorrent peer does")
	tsv := flag.Bool("tsv", false, "print tab-separated numbers instead of JSON: CPU µs per announce, tracker CPU s, announces, answers, offers received, tracker RSS KiB, loadgen CPU s, offer-relay latency p50, p99 and max ms, tracker user and system CPU µs per announce, then the crossing offers' relay latency p50 and p99 ms and their share of the offers")
	flag.Parse()
	var pids []int
	for _, f := range strings.Split(*pid, ",") {
		if n, err := strconv.Atoi(f); err == nil && n > 0 {
			pids = append(pids, n)
		}
	}
	if *url == "" || len(pids) == 0 {
		flag.Usage()
		os.Exit(2)
	}
	res, err := run(strings.Split(*url, ","), pids, *clients, *torrents, *offers, *rate, *duration, *answer)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
	if *tsv {
		perAnnounce := func(s float64) float64 { return s * 1e6 / float64(max(res.Announces, 1)) }
		fmt.Printf("%.1f\t%.2f\t%d\t%d\t%d\t%d\t%.2f\t%.2f\t%.2f\t%.2f\t%.1f\t%.1f\t%.2f\t%.2f\t%.2f\n", res.CPUPerAnnounceUS, res.TrackerCPU, res.Announces,
			res.Answers, res.OffersReceived, res.TrackerRSSKiB, res.LoadgenCPU, res.RelayP50MS, res.RelayP99MS, res.RelayMaxMS,
			perAnnounce(res.TrackerUserCPU), perAnnounce(res.TrackerSysCPU),
			res.CrossP50MS, res.CrossP99MS, float64(res.CrossSamples)/float64(max(res.RelaySamples, 1)))
		return
	}
	json.NewEncoder(os.Stdout).Encode(res)
}

type result struct {
	Clients          int     `json:"clients"`
	Seconds          float64 `json:"seconds"`
	Announces        int64   `json:"announces"`
	Answers          int64   `json:"answers"`
	Replies          int64   `json:"replies"`
	OffersReceived   int64   `json:"offersReceived"`
	AnswersReceived  int64   `json:"answersReceived"`
	Failures         int64   `json:"failures"`
	TrackerCPU       float64 `json:"trackerCPUSeconds"`
	TrackerUserCPU   float64 `json:"trackerUserCPUSeconds"`
	TrackerSysCPU    float64 `json:"trackerSystemCPUSeconds"`
	TrackerRSSKiB    int64   `json:"trackerRSSKiB"`
	LoadgenCPU       float64 `json:"loadgenCPUSeconds"`
	CPUPerAnnounceUS float64 `json:"trackerCPUPerAnnounceMicros"`
	RelaySamples     int     `json:"offerRelaySamples"`
	RelayP50MS       float64 `json:"offerRelayP50Millis"`
	RelayP99MS       float64 `json:"offerRelayP99Millis"`
	RelayMaxMS       float64 `json:"offerRelayMaxMillis"`
	// The offers that crossed between instances: sender and receiver on
	// different URLs.
	CrossSamples int     `json:"crossingOfferSamples"`
	CrossP50MS   float64 `json:"crossingOfferRelayP50Millis"`
	CrossP99MS   float64 `json:"crossingOfferRelayP99Millis"`
}

type client struct {
	url    int // the index of its URL
	c      *websocket.Conn
	peerID string // binary string
	ih     string
	n      int
}

type counters struct {
	replies, offers, answers, failures, answersSent atomic.Int64

	// sentAt[seq] is when announce number seq (of the measured window) was
	// handed to its socket, in nanoseconds since epoch; 0 until then.
	sentAt []atomic.Int64
	mu     sync.Mutex
	relay  []time.Duration // offer-relay latencies
	cross  []time.Duration // of which those of offers that crossed between URLs

	// urlOf maps a client's peer ID to the index of its URL; written before
	// the clients start reading.
	urlOf map[string]int
}

// offerIDLen is the length of an offer id: 2 digits of offer index, then 18
// of announce number (a 20-character string, as WebTorrent's offer ids are).
const offerIDLen = 20

func offerID(j int, seq int64) string { return fmt.Sprintf("%02d%018d", j%100, seq) }

// relayed records the latency of an offer whose id holds its announce
// number, relayed to a client on URL number url from peer ID from.
func (ctr *counters) relayed(id, from string, url int, now time.Time) {
	if len(id) != offerIDLen {
		return
	}
	seq, err := strconv.ParseInt(id[2:], 10, 64)
	if err != nil || seq < 0 || seq >= int64(len(ctr.sentAt)) {
		return
	}
	at := ctr.sentAt[seq].Load()
	if at == 0 {
		return
	}
	d := now.Sub(time.Unix(0, at))
	fromURL, ok := ctr.urlOf[from]
	ctr.mu.Lock()
	ctr.relay = append(ctr.relay, d)
	if ok && fromURL != url {
		ctr.cross = append(ctr.cross, d)
	}
	ctr.mu.Unlock()
}

// bin turns bytes into a JavaScript binary string (one rune per byte).
func bin(b []byte) string {
	r := make([]rune, len(b))
	for i, c := range b {
		r[i] = rune(c)
	}
	return string(r)
}

func randomBin() string {
	var b [20]byte
	rand.Read(b[:])
	return bin(b[:])
}

// sdp is an SDP offer of typical size (about 900 bytes).
func sdp(tag string) string {
	return "v=0\r\no=- 4215735397455164130 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n" +
		"a=extmap-allow-mixed\r\na=msid-semantic: WMS\r\nm=application 54400 UDP/DTLS/SCTP webrtc-datachannel\r\n" +
		"c=IN IP4 203.0.113.7\r\n" +
		"a=candidate:1467250027 1 udp 2122260223 4a3b1c2d-1e2f-4a5b-8c9d-0e1f2a3b4c5d.local 54400 typ host generation 0 network-id 1\r\n" +
		"a=candidate:842163049 1 udp 1686052607 203.0.113.7 54400 typ srflx raddr 0.0.0.0 rport 0 generation 0 network-id 1\r\n" +
		"a=candidate:3567203131 1 tcp 1518280447 4a3b1c2d-1e2f-4a5b-8c9d-0e1f2a3b4c5d.local 9 typ host tcptype active generation 0 network-id 1\r\n" +
		"a=ice-ufrag:" + tag + "\r\na=ice-pwd:asd88fgpdd777uzjYhagZg+x/ab\r\na=ice-options:trickle\r\n" +
		"a=fingerprint:sha-256 7B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:08\r\n" +
		"a=setup:actpass\r\na=mid:0\r\na=sctp-port:5000\r\na=max-message-size:262144\r\n"
}

type offer struct {
	Offer   map[string]string `json:"offer"`
	OfferID string            `json:"offer_id"`
}

type announce struct {
	Action     string            `json:"action"`
	InfoHash   string            `json:"info_hash"`
	PeerID     string            `json:"peer_id"`
	NumWant    int               `json:"numwant,omitempty"`
	Uploaded   int               `json:"uploaded"`
	Downloaded int               `json:"downloaded"`
	Left       int               `json:"left"`
	Event      string            `json:"event,omitempty"`
	Offers     []offer           `json:"offers,omitempty"`
	ToPeerID   string            `json:"to_peer_id,omitempty"`
	Answer     map[string]string `json:"answer,omitempty"`
	OfferID    string            `json:"offer_id,omitempty"`
}

// incoming is what a client reads: a reply, an offer or an answer.
type incoming struct {
	Action   string          `json:"action"`
	Failure  string          `json:"failure reason"`
	Complete *int            `json:"complete"`
	Offer    json.RawMessage `json:"offer"`
	Answer   json.RawMessage `json:"answer"`
	OfferID  string          `json:"offer_id"`
	PeerID   string          `json:"peer_id"`
}

func run(urls []string, pids []int, nClients, nTorrents, nOffers, rate int, duration time.Duration, answer bool) (result, error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hashes := make([]string, nTorrents)
	for i := range hashes {
		hashes[i] = randomBin()
	}
	var ctr counters
	clients := make([]*client, nClients)
	var wg sync.WaitGroup
	defer func() {
		for _, c := range clients {
			if c != nil {
				c.c.CloseNow()
			}
		}
		wg.Wait()
	}()
	// Connect, 50 at a time.
	sem := make(chan struct{}, 50)
	var dialErr atomic.Value
	var dwg sync.WaitGroup
	for i := range clients {
		sem <- struct{}{}
		dwg.Add(1)
		go func() {
			defer func() { <-sem; dwg.Done() }()
			dctx, dcancel := context.WithTimeout(ctx, 30*time.Second)
			defer dcancel()
			// Client i is in torrent i mod nTorrents; (i / nTorrents) mod len(urls)
			// spreads every torrent's clients over every URL (i mod len(urls) put a
			// torrent's clients all on one instance whenever len(urls) divided
			// nTorrents, and nothing crossed between instances).
			c, _, err := websocket.Dial(dctx, urls[(i/nTorrents)%len(urls)], nil)
			if err != nil {
				dialErr.Store(err)
				return
			}
			c.SetReadLimit(1 << 20)
			clients[i] = &client{c: c, peerID: randomBin(), ih: hashes[i%nTorrents], n: i, url: (i / nTorrents) % len(urls)}
		}()
	}
	dwg.Wait()
	if err, _ := dialErr.Load().(error); err != nil {
		return result{}, fmt.Errorf("dial: %w", err)
	}
	ctr.urlOf = make(map[string]int, len(clients))
	for _, cl := range clients {
		ctr.urlOf[cl.peerID] = cl.url
	}
	for _, cl := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl.read(ctx, &ctr, answer)
		}()
	}
	// Everyone joins its torrent.
	for _, cl := range clients {
		if err := cl.send(ctx, announce{Action: "announce", InfoHash: cl.ih, PeerID: cl.peerID, Left: 1 << 20, Event: "started"}); err != nil {
			return result{}, err
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for ctr.replies.Load() < int64(nClients) {
		if time.Now().After(deadline) {
			return result{}, fmt.Errorf("only %d of %d clients got a reply to their first announce", ctr.replies.Load(), nClients)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Pre-encode the announces with offers: one per client, reused; before
	// each send the announce's number is written into its offer ids.
	msgs := make([][]byte, nClients)
	seqAt := make([][]int, nClients) // where each offer id's announce number starts in msgs[i]
	for i, cl := range clients {
		a := announce{Action: "announce", InfoHash: cl.ih, PeerID: cl.peerID, NumWant: nOffers, Left: 1 << 20, Event: "update"}
		for j := range nOffers {
			a.Offers = append(a.Offers, offer{Offer: map[string]string{"type": "offer", "sdp": sdp(strconv.Itoa(i*10 + j))}, OfferID: offerID(j, 0)})
		}
		b, err := json.Marshal(a)
		if err != nil {
			return result{}, err
		}
		msgs[i] = b
		from := 0
		for j := range nOffers {
			k := bytes.Index(b[from:], []byte(`"offer_id":"`+offerID(j, 0)+`"`))
			if k < 0 {
				return result{}, errors.New("offer id not found in the encoded announce")
			}
			k += from + len(`"offer_id":"`) + 2
			seqAt[i] = append(seqAt[i], k)
			from = k
		}
	}
	// Room for every announce of the window, with a margin for timer slack.
	ctr.sentAt = make([]atomic.Int64, int64(float64(rate)*duration.Seconds()*1.1)+int64(rate)+16)

	time.Sleep(500 * time.Millisecond) // let the joins settle
	startCPU, _, err := procsCPU(pids)
	if err != nil {
		return result{}, err
	}
	startLoad := selfCPU()
	ctr.replies.Store(0)
	ctr.offers.Store(0)
	ctr.answers.Store(0)
	ctr.answersSent.Store(0)
	start := time.Now()
	const tick = 10 * time.Millisecond
	t := time.NewTicker(tick)
	var sent int64
	next := 0
	for time.Since(start) < duration {
		<-t.C
		due := int64(time.Since(start).Seconds()*float64(rate)) - sent
		for ; due > 0; due-- {
			cl := clients[next]
			next = (next + 1) % nClients
			m := msgs[cl.n]
			if sent < int64(len(ctr.sentAt)) {
				digits := fmt.Sprintf("%018d", sent)
				for _, k := range seqAt[cl.n] {
					copy(m[k:k+offerIDLen-2], digits)
				}
				ctr.sentAt[sent].Store(time.Now().UnixNano())
			}
			// Write returns once the frame is written, so m may change for the next send.
			if err := cl.c.Write(ctx, websocket.MessageText, m); err != nil {
				return result{}, err
			}
			sent++
		}
	}
	t.Stop()
	// Wait for the replies to the last announces.
	drain := time.Now().Add(5 * time.Second)
	for ctr.replies.Load() < sent && time.Now().Before(drain) {
		time.Sleep(5 * time.Millisecond)
	}
	elapsed := time.Since(start)
	endCPU, rss, err := procsCPU(pids)
	if err != nil {
		return result{}, err
	}
	res := result{
		Clients:         nClients,
		Seconds:         elapsed.Seconds(),
		Announces:       sent,
		Answers:         ctr.answersSent.Load(),
		Replies:         ctr.replies.Load(),
		OffersReceived:  ctr.offers.Load(),
		AnswersReceived: ctr.answers.Load(),
		Failures:        ctr.failures.Load(),
		TrackerCPU:      (endCPU.total() - startCPU.total()).Seconds(),
		TrackerUserCPU:  (endCPU.user - startCPU.user).Seconds(),
		TrackerSysCPU:   (endCPU.sys - startCPU.sys).Seconds(),
		TrackerRSSKiB:   rss,
		LoadgenCPU:      (selfCPU() - startLoad).Seconds(),
	}
	ctr.mu.Lock()
	relay, cross := slices.Clone(ctr.relay), slices.Clone(ctr.cross)
	ctr.mu.Unlock()
	if n := len(relay); n > 0 {
		res.RelaySamples = n
		res.RelayP50MS, res.RelayP99MS, res.RelayMaxMS = quantileMS(relay, 0.50), quantileMS(relay, 0.99), quantileMS(relay, 1)
	}
	if n := len(cross); n > 0 {
		res.CrossSamples = n
		res.CrossP50MS, res.CrossP99MS = quantileMS(cross, 0.50), quantileMS(cross, 0.99)
	}
	if sent > 0 {
		res.CPUPerAnnounceUS = res.TrackerCPU * 1e6 / float64(sent)
	}
	if res.Replies < sent {
		return res, fmt.Errorf("%d announces got %d replies: the tracker fell behind; lower -rate", sent, res.Replies)
	}
	return res, nil
}

// quantileMS is the q-quantile of ds (nearest rank), in milliseconds; it
// sorts ds.
func quantileMS(ds []time.Duration, q float64) float64 {
	slices.Sort(ds)
	n := len(ds)
	r := int(q*float64(n)+0.999999) - 1
	return float64(ds[max(0, min(n-1, r))].Microseconds()) / 1000
}

func (cl *client) send(ctx context.Context, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return cl.c.Write(ctx, websocket.MessageText, b)
}

// read counts what arrives and answers offers.
func (cl *client) read(ctx context.Context, ctr *counters, answer bool) {
	for {
		_, b, err := cl.c.Read(ctx)
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, net.ErrClosed) {
				fmt.Fprintf(os.Stderr, "loadgen: client %d: read: %v\n", cl.n, err)
			}
			return
		}
		now := time.Now()
		var m incoming
		if err := json.Unmarshal(b, &m); err != nil {
			ctr.failures.Add(1)
			continue
		}
		switch {
		case m.Failure != "":
			ctr.failures.Add(1)
		case m.Complete != nil:
			ctr.replies.Add(1)
		case m.Offer != nil:
			ctr.offers.Add(1)
			ctr.relayed(m.OfferID, m.PeerID, cl.url, now)
			if answer {
				a := announce{Action: "announce", InfoHash: cl.ih, PeerID: cl.peerID, ToPeerID: m.PeerID,
					OfferID: m.OfferID, Answer: map[string]string{"type": "answer", "sdp": sdp("answer")}}
				if cl.send(ctx, a) == nil {
					ctr.answersSent.Add(1)
				}
			}
		case m.Answer != nil:
			ctr.answers.Add(1)
		}
	}
}

// cpuTimes is a process's CPU time in user space and in the kernel.
type cpuTimes struct{ user, sys time.Duration }

func (c cpuTimes) total() time.Duration { return c.user + c.sys }

// procsCPU sums procCPU over processes.
func procsCPU(pids []int) (cpuTimes, int64, error) {
	var sum cpuTimes
	var rss int64
	for _, pid := range pids {
		c, r, err := procCPU(pid)
		if err != nil {
			return sum, 0, err
		}
		sum.user += c.user
		sum.sys += c.sys
		rss += r
	}
	return sum, rss, nil
}

// procCPU reads a process's user and system CPU time and its RSS.
func procCPU(pid int) (cpuTimes, int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return cpuTimes{}, 0, err
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return cpuTimes{}, 0, errors.New("unreadable /proc stat")
	}
	f := strings.Fields(s[i+2:])
	// utime and stime are fields 14 and 15 (1-based), 12 and 13 here; rss is 24, here 22.
	if len(f) < 22 {
		return cpuTimes{}, 0, errors.New("short /proc stat")
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	rss, _ := strconv.ParseInt(f[21], 10, 64)
	const ticks = 100 // USER_HZ on Linux
	return cpuTimes{time.Duration(ut) * time.Second / ticks, time.Duration(st) * time.Second / ticks}, rss * int64(os.Getpagesize()) / 1024, nil
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
