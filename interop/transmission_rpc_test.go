package interop

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/swarmcast/swarmcast/daemon"
)

// rpcTimeout bounds waits on an RPC daemon (start, a download of a few MiB over loopback).
const rpcTimeout = 60 * time.Second

var serveReadyRE = regexp.MustCompile(`"msg":"serving"`)

// startServe runs `swarmcast serve` on a free loopback port and waits until it serves; it returns the
// process and its host:port.
func startServe(t testing.TB, dataDir string, args ...string) (*bgProc, string) {
	t.Helper()
	port := freeTCPPort(t, "127.0.0.1")
	hostport := "127.0.0.1:" + strconv.Itoa(port)
	all := append([]string{"serve", "--http", hostport, "--data", dataDir, "--listen", "127.0.0.1:0",
		"--no-dht", "--no-lsd", "--log-format", "json"}, args...)
	p := startBG(t, "swarmcast serve", bgOpts{}, swarmcastBin(t), all...)
	p.waitFor(serveReadyRE, rpcTimeout)
	return p, hostport
}

// transmissionRemote runs transmission-remote against hostport and fails the test if it fails.
func transmissionRemote(t testing.TB, hostport string, args ...string) string {
	t.Helper()
	r := run(t, "", "transmission-remote", append([]string{hostport}, args...)...)
	if r.err != nil {
		t.Fatalf("transmission-remote %s: %s", strings.Join(args, " "), r.message())
	}
	return string(r.stdout)
}

// remoteList parses `transmission-remote -l`: id → the line's fields (Done, Status, Name...).
func remoteList(out string) map[int][]string {
	rows := map[int][]string{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		if id, err := strconv.Atoi(strings.TrimSuffix(f[0], "*")); err == nil {
			rows[id] = f
		}
	}
	return rows
}

// The real transmission-remote drives swarmcast serve through a torrent's whole life: add a .torrent
// and a magnet, list until both are 100%, stop (Stopped), start, verify, set a file unwanted, remove
// with and without data.
func TestTransmissionRemoteDrivesServe(t *testing.T) {
	requireTool(t, "transmission-remote")
	work := t.TempDir()
	rng := engineRNG(t)
	writeRandomFile(t, rng, filepath.Join(work, "one", "movie.mp4"), 3<<20)
	writeRandomFile(t, rng, filepath.Join(work, "two", "show", "e1.mkv"), 2<<20)
	writeRandomFile(t, rng, filepath.Join(work, "two", "show", "e2.mkv"), 1<<20)
	if r := runSwarmcast(t, work, "create", filepath.Join(work, "one", "movie.mp4"), "-o", filepath.Join(work, "movie.torrent")); r.err != nil {
		t.Fatal(r.message())
	}
	s1 := startSwarmcastSeed(t, bgOpts{}, "127.0.0.1:0", filepath.Join(work, "one", "movie.mp4"))
	s2 := startSwarmcastSeed(t, bgOpts{}, "127.0.0.1:0", filepath.Join(work, "two", "show"))
	data := filepath.Join(work, "daemon")
	_, hp := startServe(t, data, "--peer", s1.addr, "--peer", s2.addr)

	out := transmissionRemote(t, hp, "-a", filepath.Join(work, "movie.torrent"))
	if !strings.Contains(out, `responded: "success"`) {
		t.Fatalf("add .torrent: %s", out)
	}
	out = transmissionRemote(t, hp, "-a", s2.magnet)
	if !strings.Contains(out, `responded: "success"`) {
		t.Fatalf("add magnet: %s", out)
	}
	waitList := func(what string, ok func(rows map[int][]string) bool) string {
		t.Helper()
		deadline := time.Now().Add(rpcTimeout)
		for {
			out := transmissionRemote(t, hp, "-l")
			if ok(remoteList(out)) {
				return out
			}
			if time.Now().After(deadline) {
				t.Fatalf("waiting for %s; transmission-remote -l:\n%s", what, out)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	out = waitList("both at 100%", func(rows map[int][]string) bool {
		return len(rows) == 2 && rows[1][1] == "100%" && rows[2][1] == "100%"
	})
	t.Logf("transmission-remote -l:\n%s", out)
	if !strings.Contains(out, "movie.mp4") || !strings.Contains(out, "show") {
		t.Errorf("names missing from the list:\n%s", out)
	}

	transmissionRemote(t, hp, "-t", "1", "-S")
	out = waitList("torrent 1 Stopped", func(rows map[int][]string) bool {
		return strings.Contains(strings.Join(rows[1], " "), "Stopped")
	})
	t.Logf("after -t 1 -S:\n%s", out)
	transmissionRemote(t, hp, "-t", "1", "-s")
	waitList("torrent 1 running", func(rows map[int][]string) bool {
		return !strings.Contains(strings.Join(rows[1], " "), "Stopped")
	})
	if out := transmissionRemote(t, hp, "-t", "1", "-v"); !strings.Contains(out, "success") {
		t.Fatalf("verify: %s", out)
	}
	waitList("torrent 1 verified at 100%", func(rows map[int][]string) bool {
		return rows[1][1] == "100%" && !strings.Contains(strings.Join(rows[1], " "), "Verif")
	})

	transmissionRemote(t, hp, "-t", "2", "-G", "0")
	out = transmissionRemote(t, hp, "-t", "2", "-f")
	t.Logf("after -t 2 -G 0, -f:\n%s", out)
	fileRE := regexp.MustCompile(`(?m)^\s*(\d+):\s+\d+%\s+\S+\s+(Yes|No)\s`)
	got := map[string]string{}
	for _, m := range fileRE.FindAllStringSubmatch(out, -1) {
		got[m[1]] = m[2]
	}
	if got["0"] != "No" || got["1"] != "Yes" {
		t.Errorf("file wanted columns %v, want 0: No, 1: Yes", got)
	}
	info := transmissionRemote(t, hp, "-t", "1", "-i")
	for _, want := range []string{"Name: movie.mp4", "Hash: " + s1.infoHash, "Percent Done: 100%"} {
		if !strings.Contains(info, want) {
			t.Errorf("-t 1 -i lacks %q:\n%s", want, info)
		}
	}
	if out := transmissionRemote(t, hp, "-si"); !strings.Contains(out, "RPC version") {
		t.Errorf("-si:\n%s", out)
	}
	if out := transmissionRemote(t, hp, "-st"); !strings.Contains(out, "CURRENT SESSION") {
		t.Errorf("-st:\n%s", out)
	}

	movie := filepath.Join(data, "downloads", "movie.mp4")
	if _, err := os.Stat(movie); err != nil {
		t.Fatalf("downloaded file: %v", err)
	}
	transmissionRemote(t, hp, "-t", "1", "--remove-and-delete")
	transmissionRemote(t, hp, "-t", "2", "-r")
	out = transmissionRemote(t, hp, "-l")
	if rows := remoteList(out); len(rows) != 0 {
		t.Errorf("still listed after removing both:\n%s", out)
	}
	if _, err := os.Stat(movie); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("--remove-and-delete left the data: %v", err)
	}
	if _, err := os.Stat(filepath.Join(data, "downloads", "show", "e2.mkv")); err != nil {
		t.Errorf("-r (keep data) deleted it: %v", err)
	}
}

// startTransmissionDaemon runs the real transmission-daemon with RPC on a free port and credentials
// u:p, and returns an RPC client for it.
func startTransmissionDaemon(t testing.TB) *daemon.RPCClient {
	t.Helper()
	requireTool(t, "transmission-daemon")
	cfg, dl := t.TempDir(), t.TempDir()
	port := freeTCPPort(t, "127.0.0.1")
	peerPort := freeTCPPort(t, "127.0.0.1")
	startBG(t, "transmission-daemon", bgOpts{}, "transmission-daemon", "-f", "-g", cfg, "-p", strconv.Itoa(port),
		"-t", "-u", "u", "-v", "p", "--no-portmap", "--no-dht", "--no-lpd", "-w", dl, "-P", strconv.Itoa(peerPort),
		"-r", "127.0.0.1", "--no-incomplete-dir")
	c := &daemon.RPCClient{URL: fmt.Sprintf("http://127.0.0.1:%d/transmission/rpc", port), User: "u", Password: "p"}
	deadline := time.Now().Add(rpcTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := c.Call(ctx, "session-get", nil, nil)
		cancel()
		if err == nil {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("transmission-daemon's RPC never answered: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// goldenFields are the torrent-get fields clients ask for (transmission-remote's -l, -i and -f, Flood,
// Sonarr, Transmission's web UI), compared between the two daemons.
var goldenFields = []string{
	"id", "name", "hashString", "status", "percentDone", "rateDownload", "rateUpload", "peersConnected",
	"peersSendingToUs", "peersGettingFromUs", "eta", "sizeWhenDone", "leftUntilDone", "totalSize", "haveValid",
	"haveUnchecked", "files", "fileStats", "priorities", "wanted", "peers", "trackers", "trackerStats", "error",
	"errorString", "isFinished", "isPrivate", "isStalled", "uploadRatio", "uploadedEver", "downloadedEver",
	"corruptEver", "addedDate", "doneDate", "startDate", "activityDate", "downloadDir", "pieceCount", "pieceSize",
	"pieces", "metadataPercentComplete", "magnetLink", "queuePosition", "recheckProgress", "seedRatioMode",
	"seedRatioLimit", "desiredAvailable", "webseedsSendingToUs", "peersFrom", "labels", "comment", "creator",
	"dateCreated", "bandwidthPriority", "honorsSessionLimits", "downloadLimit", "downloadLimited", "uploadLimit",
	"uploadLimited", "maxConnectedPeers", "secondsDownloading", "secondsSeeding", "torrentFile", "percentComplete",
}

// sameValue lists the fields whose values must agree, not only their shapes: what the .torrent and a
// stopped torrent with no data decide.
var sameValue = map[string]bool{
	"name": true, "hashString": true, "status": true, "percentDone": true, "sizeWhenDone": true, "leftUntilDone": true,
	"totalSize": true, "haveValid": true, "pieceCount": true, "pieceSize": true, "wanted": true, "priorities": true,
	"isPrivate": true, "error": true, "errorString": true, "isFinished": true, "metadataPercentComplete": true,
	"rateDownload": true, "rateUpload": true, "peersConnected": true, "pieces": true, "uploadedEver": true,
	"downloadedEver": true, "corruptEver": true, "labels": true, "peers": true, "percentComplete": true,
}

// The answers of swarmcast's RPC have the shape of real transmission-daemon's, field by field, for the
// same torrent added stopped to both: same fields, same JSON types (down into files, fileStats, trackers
// and trackerStats), and the same values where the torrent alone decides them.
func TestTransmissionRPCShape(t *testing.T) {
	requireTool(t, "transmission-daemon")
	work := t.TempDir()
	rng := engineRNG(t)
	writeRandomFile(t, rng, filepath.Join(work, "pack", "a.mp4"), 900<<10)
	writeRandomFile(t, rng, filepath.Join(work, "pack", "sub", "b.srt"), 70<<10)
	tf := filepath.Join(work, "pack.torrent")
	if r := runSwarmcast(t, work, "create", filepath.Join(work, "pack"), "-o", tf, "--tracker", "http://127.0.0.1:1/announce",
		"--tracker", "udp://127.0.0.1:2"); r.err != nil {
		t.Fatal(r.message())
	}
	raw, err := os.ReadFile(tf)
	if err != nil {
		t.Fatal(err)
	}
	tr := startTransmissionDaemon(t)
	_, hp := startServe(t, filepath.Join(work, "daemon"))
	sc := &daemon.RPCClient{URL: "http://" + hp + "/transmission/rpc"}
	ctx, cancel := context.WithTimeout(context.Background(), rpcTimeout)
	defer cancel()
	add := map[string]any{"metainfo": base64.StdEncoding.EncodeToString(raw), "paused": true}
	var addedT, addedS map[string]any
	if err := tr.Call(ctx, "torrent-add", add, &addedT); err != nil {
		t.Fatal("transmission-daemon: ", err)
	}
	if err := sc.Call(ctx, "torrent-add", add, &addedS); err != nil {
		t.Fatal("swarmcast: ", err)
	}
	compareShape(t, "torrent-add", addedT, addedS, nil)

	// Transmission checks the (absent) data of a torrent added stopped before settling.
	get := func(c *daemon.RPCClient) map[string]any {
		var out struct {
			Torrents []map[string]any `json:"torrents"`
		}
		deadline := time.Now().Add(rpcTimeout)
		for {
			if err := c.Call(ctx, "torrent-get", map[string]any{"fields": goldenFields}, &out); err != nil {
				t.Fatal(err)
			}
			if len(out.Torrents) == 1 && out.Torrents[0]["status"] == 0.0 {
				return out.Torrents[0]
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: torrent-get %v", c.URL, out.Torrents)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	gotT, gotS := get(tr), get(sc)
	compareShape(t, "torrent-get", gotT, gotS, sameValue)
	// files: the same names, lengths and bytes completed, in the same order.
	if !reflect.DeepEqual(gotT["files"], gotS["files"]) {
		t.Errorf("files differ:\ntransmission: %v\nswarmcast:    %v", gotT["files"], gotS["files"])
	}
	ann := func(v any) []string {
		var out []string
		for _, x := range v.([]any) {
			m := x.(map[string]any)
			out = append(out, fmt.Sprintf("%v tier %v", m["announce"], m["tier"]))
		}
		return out
	}
	if a, b := ann(gotT["trackers"]), ann(gotS["trackers"]); !reflect.DeepEqual(a, b) {
		t.Errorf("trackers differ:\ntransmission: %v\nswarmcast:    %v", a, b)
	}

	var sessT, sessS map[string]any
	if err := tr.Call(ctx, "session-get", nil, &sessT); err != nil {
		t.Fatal(err)
	}
	if err := sc.Call(ctx, "session-get", nil, &sessS); err != nil {
		t.Fatal(err)
	}
	compareShape(t, "session-get", sessT, sessS, nil)
	var statsT, statsS map[string]any
	tr.Call(ctx, "session-stats", nil, &statsT)
	sc.Call(ctx, "session-stats", nil, &statsS)
	compareShape(t, "session-stats", statsT, statsS, nil)
}

// compareShape reports keys of want missing from got, JSON types that differ (recursively into objects
// and the first element of arrays), and values that differ for the keys in same.
func compareShape(t *testing.T, what string, want, got map[string]any, same map[string]bool) {
	t.Helper()
	var missingKeys []string
	for k, wv := range want {
		gv, ok := got[k]
		if !ok {
			missingKeys = append(missingKeys, k)
			continue
		}
		if d := shapeDiff(wv, gv); d != "" {
			t.Errorf("%s: %s: %s (transmission %v, swarmcast %v)", what, k, d, short(wv), short(gv))
			continue
		}
		if same[k] && !reflect.DeepEqual(wv, gv) {
			t.Errorf("%s: %s: transmission says %v, swarmcast %v", what, k, short(wv), short(gv))
		}
	}
	sort.Strings(missingKeys)
	if len(missingKeys) > 0 {
		t.Errorf("%s: swarmcast lacks %d keys transmission-daemon sends: %s", what, len(missingKeys), strings.Join(missingKeys, ", "))
	}
}

func short(v any) string {
	b, _ := json.Marshal(v)
	if len(b) > 200 {
		return string(b[:200]) + "..."
	}
	return string(b)
}

// shapeDiff describes how the JSON types of a and b differ, or returns "".
func shapeDiff(a, b any) string {
	ka, kb := kind(a), kind(b)
	if ka != kb {
		return fmt.Sprintf("type %s, want %s", kb, ka)
	}
	switch a := a.(type) {
	case map[string]any:
		bm := b.(map[string]any)
		var diffs []string
		for k, av := range a {
			bv, ok := bm[k]
			if !ok {
				diffs = append(diffs, "lacks ."+k)
				continue
			}
			if d := shapeDiff(av, bv); d != "" {
				diffs = append(diffs, "."+k+": "+d)
			}
		}
		sort.Strings(diffs)
		return strings.Join(diffs, "; ")
	case []any:
		bl := b.([]any)
		if len(a) > 0 && len(bl) > 0 {
			if d := shapeDiff(a[0], bl[0]); d != "" {
				return "[0]" + d
			}
		}
	}
	return ""
}

func kind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case float64:
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}
