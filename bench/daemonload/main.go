// Command daemonload loads a Transmission-RPC daemon (swarmcast serve or transmission-daemon) with
// torrents and then with torrent-get requests at a fixed rate, and reports latency percentiles, errors
// and the daemon's memory. bench/daemon-load.sh runs it against both daemons in one run.
//
//	daemonload -rpc URL [-user U -pass P] [-torrents 500] [-rate 200] [-duration 60s] [-pid PID]
//
// The torrents are made up (random piece hashes, no data anywhere, no trackers): each daemon holds them
// as downloads that find no peer, which is what a daemon with many idle torrents does. The requests ask
// for the fields `transmission-remote -l` asks for, of every torrent, as list views poll. The load is
// open-loop: a request starts every 1/rate seconds whether or not earlier ones have answered (at most
// maxInFlight at once; a request that cannot start is counted as dropped), so a slow daemon shows as
// latency, not as a lower rate.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/swarmcast/swarmcast/bencode"
	"github.com/swarmcast/swarmcast/daemon"
)

// The ticker drops ticks when this program is not scheduled in time (a loaded machine): sent= says
// how many requests went out, so the rate reached is known.

// listFields are the fields transmission-remote 3.00 asks for in `-l`.
var listFields = []string{"error", "errorString", "eta", "id", "isFinished", "leftUntilDone", "name",
	"peersGettingFromUs", "peersSendingToUs", "rateDownload", "rateUpload", "sizeWhenDone", "status", "uploadRatio"}

// maxInFlight bounds requests waiting for answers, so a stalled daemon cannot make this program grow.
const maxInFlight = 256

func main() {
	rpcURL := flag.String("rpc", "", "the daemon's RPC `URL`")
	user := flag.String("user", "", "basic auth user")
	pass := flag.String("pass", "", "basic auth password")
	n := flag.Int("torrents", 500, "torrents to add first")
	rate := flag.Int("rate", 200, "torrent-get requests per second")
	dur := flag.Duration("duration", 60*time.Second, "how long to send requests")
	pid := flag.Int("pid", 0, "the daemon's process id, for its RSS")
	label := flag.String("label", "daemon", "name in the report")
	flag.Parse()
	if *rpcURL == "" {
		fmt.Fprintln(os.Stderr, "daemonload: -rpc is required")
		os.Exit(2)
	}
	c := &daemon.RPCClient{URL: *rpcURL, User: *user, Password: *pass}
	ctx := context.Background()

	start := time.Now()
	for i := 0; i < *n; i++ {
		mi := fakeTorrent(i)
		var out map[string]any
		if err := c.Call(ctx, "torrent-add", map[string]any{"metainfo": base64.StdEncoding.EncodeToString(mi)}, &out); err != nil {
			fmt.Fprintf(os.Stderr, "daemonload: adding torrent %d: %v\n", i, err)
			os.Exit(1)
		}
	}
	fmt.Fprintf(os.Stderr, "daemonload: %s: added %d torrents in %v\n", *label, *n, time.Since(start).Round(time.Millisecond))
	// A moment for the daemon to settle (Transmission checks each torrent's absent files).
	time.Sleep(5 * time.Second)
	var check struct {
		Torrents []map[string]any `json:"torrents"`
	}
	if err := c.Call(ctx, "torrent-get", map[string]any{"fields": listFields}, &check); err != nil || len(check.Torrents) < *n {
		fmt.Fprintf(os.Stderr, "daemonload: torrent-get before the load: %d torrents, %v\n", len(check.Torrents), err)
		os.Exit(1)
	}
	rssBefore := rss(*pid, "VmRSS")

	var (
		mu        sync.Mutex
		lat       []time.Duration
		errs      atomic.Int64
		sent      atomic.Int64
		dropped   atomic.Int64
		inFlight  atomic.Int64
		wg        sync.WaitGroup
		firstErr  atomic.Value
		peakRSS   int64
		rssSample = time.NewTicker(time.Second)
	)
	defer rssSample.Stop()
	tick := time.NewTicker(time.Second / time.Duration(*rate))
	defer tick.Stop()
	end := time.After(*dur)
	// The load's requests are sent as raw bytes and their answers checked by
	// counting ids, not decoded: decoding 200 answers of 500 torrents a
	// second would take this program more CPU than the daemon under test.
	reqBody, _ := json.Marshal(map[string]any{"method": "torrent-get", "arguments": map[string]any{"fields": listFields}})
	session := sessionID(*rpcURL, *user, *pass)
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: maxInFlight}}
	idKey := []byte(`"id":`)
loop:
	for {
		select {
		case <-end:
			break loop
		case <-rssSample.C:
			if r := rss(*pid, "VmRSS"); r > peakRSS {
				peakRSS = r
			}
		case <-tick.C:
			if inFlight.Load() >= maxInFlight {
				dropped.Add(1)
				continue
			}
			inFlight.Add(1)
			sent.Add(1)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer inFlight.Add(-1)
				rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				defer cancel()
				t0 := time.Now()
				body, err := post(rctx, hc, *rpcURL, *user, *pass, session, reqBody)
				d := time.Since(t0)
				if err == nil && !bytes.Contains(body, []byte(`"result":"success"`)) {
					err = fmt.Errorf("answer without success: %.200s", body)
				}
				if got := bytes.Count(body, idKey); err == nil && got < *n {
					err = fmt.Errorf("%d torrents in the answer, want %d", got, *n)
				}
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					return
				}
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
			}()
		}
	}
	wg.Wait()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) string {
		if len(lat) == 0 {
			return "-"
		}
		i := int(p * float64(len(lat)-1))
		return fmt.Sprintf("%.1f", float64(lat[i].Microseconds())/1000)
	}
	if r := rss(*pid, "VmRSS"); r > peakRSS {
		peakRSS = r
	}
	fmt.Printf("%-12s torrents=%d rate=%d/s duration=%v sent=%d (%.0f/s) ok=%d errors=%d dropped=%d p50_ms=%s p90_ms=%s p99_ms=%s max_ms=%s rss_before_mib=%.1f rss_peak_mib=%.1f hwm_mib=%.1f\n",
		*label, *n, *rate, *dur, sent.Load(), float64(sent.Load())/dur.Seconds(), len(lat), errs.Load(), dropped.Load(), pct(0.5), pct(0.9), pct(0.99), pct(1),
		mib(rssBefore), mib(peakRSS), mib(rss(*pid, "VmHWM")))
	if e := firstErr.Load(); e != nil {
		fmt.Fprintf(os.Stderr, "daemonload: %s: first error: %v\n", *label, e)
	}
	if errs.Load() > 0 || dropped.Load() > 0 {
		os.Exit(1)
	}
}

// sessionID does the session-id handshake once.
func sessionID(url, user, pass string) string {
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader("{}"))
	req.SetBasicAuth(user, pass)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return ""
	}
	resp.Body.Close()
	return resp.Header.Get(daemon.SessionHeader)
}

// post sends one RPC request and returns the answer's body.
func post(ctx context.Context, hc *http.Client, url, user, pass, session string, body []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.SetBasicAuth(user, pass)
	req.Header.Set(daemon.SessionHeader, session)
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("%s", resp.Status)
	}
	return b, err
}

// fakeTorrent makes a .torrent of one 1 MiB file in 64 pieces with random hashes.
func fakeTorrent(i int) []byte {
	pieces := make([]byte, 64*20)
	rand.Read(pieces)
	info := map[string]any{"name": fmt.Sprintf("load-%04d.bin", i), "length": int64(1 << 20), "piece length": int64(16 << 10), "pieces": pieces}
	b, err := bencode.Marshal(map[string]any{"info": info, "created by": "daemonload"})
	if err != nil {
		panic(err)
	}
	return b
}

// rss reads a memory figure (kB) of a process from /proc, in bytes; 0 when unknown.
func rss(pid int, key string) int64 {
	if pid == 0 {
		return 0
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		if v, ok := strings.CutPrefix(string(line), key+":"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }
