package interop

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	mrand "math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The engine tests (engine_*_test.go) move real data between swarmcast and real BitTorrent clients, in
// both directions, by .torrent and by magnet link, and compare the bytes by SHA-256. This file holds what
// they share: running a program in the background and reading its output as it comes, the test data,
// the local tracker, and swarmcast's `seed` and `download` commands.

const (
	// bgTimeout bounds the life of every program a transfer test starts (unless bgOpts.timeout says
	// otherwise): an 8 MiB transfer takes a few seconds here (Transmission ~20 s, as it waits before
	// its first unchoke), and a seeder lives through two transfers, so four minutes fails a hung test
	// long before `go test`'s own timeout.
	bgTimeout = 4 * time.Minute

	// engineReadyTimeout bounds the wait for a program to say it is listening or seeding: hashing 8 MiB and
	// opening a socket take well under 15 s even for WebTorrent in Node on a loaded 2-core machine.
	engineReadyTimeout = 60 * time.Second

	// engineTransferTimeout bounds one download of the test data once the seeder is ready: the slowest
	// client here (Transmission) takes 15–25 s for 8 MiB, most of it waiting to unchoke or ramping up.
	engineTransferTimeout = 60 * time.Second

	// trackerTimeout bounds the life of a client test's tracker: all its transfers failing on their
	// timeouts take 6 × engineTransferTimeout.
	trackerTimeout = 10 * time.Minute

	// bgStopGrace is how long a program gets to exit after SIGINT (announcing "stopped", closing files)
	// before it is killed.
	bgStopGrace = 5 * time.Second

	// engineDataSize is the size of the single-file test torrent: big enough for hundreds of 16 KiB blocks
	// over many pieces whatever piece length each client picks, small enough to move in seconds.
	engineDataSize = 8 << 20

	// bgTailLines is how many of a program's last output lines a failed test prints.
	bgTailLines = 60
)

// bgProc is a program running in the background for one test: its stdout and stderr are kept as lines
// (split at \n and \r, since Transmission redraws its status line with \r) that a test can wait for.
type bgProc struct {
	t      testing.TB
	name   string // short label for logs: "swarmcast seed", "aria2c", ...
	cmd    *exec.Cmd
	cancel context.CancelFunc
	start  time.Time

	mu      sync.Mutex
	lines   []bgLine
	changed chan struct{} // closed and replaced whenever a line arrives or the program exits
	exited  bool
	waitErr error
	end     time.Time

	done chan struct{} // closed when Wait returned
}

// bgLine is one line of a program's output.
type bgLine struct {
	stderr bool
	text   string
}

// bgOpts are the optional settings of startBG.
type bgOpts struct {
	dir   string   // working directory ("" for the package directory)
	netns string   // run inside this network namespace (ip netns exec)
	env   []string // added to the environment

	timeout time.Duration // the program's whole life; bgTimeout when zero
}

// startBG starts name with args in the background, in a process group of its own. It is stopped with
// everything it started (SIGINT to the group, then SIGKILL after bgStopGrace) when the test ends or
// when bgTimeout runs out; if the test failed, its last lines of output are logged.
func startBG(t testing.TB, label string, o bgOpts, name string, args ...string) *bgProc {
	t.Helper()
	if o.netns != "" {
		args = append([]string{"netns", "exec", o.netns, name}, args...)
		name = "ip"
	}
	life := o.timeout
	if life == 0 {
		life = bgTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), life)
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = o.dir
	cmd.Env = append(os.Environ(), o.env...)
	cmd.Stdin = nil
	// The program and what it starts share a process group: SIGINT goes to all of them, and whatever
	// is left when the program has exited is killed.
	inOwnGroup(cmd)
	cmd.Cancel = func() error { return interruptGroup(cmd) }
	cmd.WaitDelay = bgStopGrace
	p := &bgProc{t: t, name: label, cmd: cmd, cancel: cancel, changed: make(chan struct{}), done: make(chan struct{})}
	cmd.Stdout = &bgLineWriter{p: p}
	cmd.Stderr = &bgLineWriter{p: p, stderr: true}
	p.start = time.Now()
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start %s: %v", label, err)
	}
	t.Logf("started %s: %s", label, bgShellQuote(cmd.Args))
	go func() {
		err := cmd.Wait()
		killGroup(cmd)
		if ctx.Err() == context.DeadlineExceeded {
			err = fmt.Errorf("killed after %v: %w", life, err)
		}
		p.mu.Lock()
		p.exited, p.waitErr, p.end = true, err, time.Now()
		close(p.changed)
		p.changed = make(chan struct{})
		p.mu.Unlock()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			p.logTail(bgTailLines)
		}
		p.saveLog()
	})
	return p
}

// bgLogDirEnv names a folder where every background program's whole output is saved when set, for
// reading past the tail that a failed test prints.
const bgLogDirEnv = "SWARMCAST_INTEROP_LOGDIR"

var bgLogSeq atomic.Int64

// saveLog writes the program's output to a file in $SWARMCAST_INTEROP_LOGDIR, if set.
func (p *bgProc) saveLog() {
	dir := os.Getenv(bgLogDirEnv)
	if dir == "" {
		return
	}
	name := fmt.Sprintf("%03d-%s-%s.log", bgLogSeq.Add(1),
		strings.NewReplacer("/", "_", " ", "_").Replace(p.t.Name()), strings.ReplaceAll(p.name, " ", "-"))
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n", bgShellQuote(p.cmd.Args))
	p.mu.Lock()
	for _, l := range p.lines {
		tag := "O"
		if l.stderr {
			tag = "E"
		}
		fmt.Fprintf(&b, "%s| %s\n", tag, l.text)
	}
	p.mu.Unlock()
	if err := os.MkdirAll(dir, 0o755); err == nil {
		_ = os.WriteFile(filepath.Join(dir, name), []byte(b.String()), 0o644)
	}
}

// stop asks the program to exit and waits until it has.
func (p *bgProc) stop() {
	p.cancel()
	<-p.done
}

// logTail logs the last n lines of the program's output.
func (p *bgProc) logTail(n int) {
	p.mu.Lock()
	lines := p.lines
	p.mu.Unlock()
	skipped := max(0, len(lines)-n)
	var b strings.Builder
	fmt.Fprintf(&b, "%s: last %d of %d output lines (E = stderr):", p.name, len(lines)-skipped, len(lines))
	for _, l := range lines[skipped:] {
		tag := "O"
		if l.stderr {
			tag = "E"
		}
		fmt.Fprintf(&b, "\n  %s| %s", tag, l.text)
	}
	p.t.Log(b.String())
}

// grep returns the program's output lines that re matches.
func (p *bgProc) grep(re *regexp.Regexp) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, l := range p.lines {
		if re.MatchString(l.text) {
			out = append(out, l.text)
		}
	}
	return out
}

// waitFor waits until a line of output matches re and returns the line's submatches. It fails the test
// that started the program (call it from that test's goroutine) when the program exits first or
// timeout passes.
func (p *bgProc) waitFor(re *regexp.Regexp, timeout time.Duration) []string {
	p.t.Helper()
	m, err := p.waitMatch(re, func(string) bool { return true }, timeout)
	if err != nil {
		p.t.Fatalf("%s: %v", p.name, err)
	}
	return m
}

// waitMatch waits until a line that re matches also satisfies ok.
func (p *bgProc) waitMatch(re *regexp.Regexp, ok func(line string) bool, timeout time.Duration) ([]string, error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	next := 0
	for {
		p.mu.Lock()
		lines, changed, exited, waitErr := p.lines, p.changed, p.exited, p.waitErr
		p.mu.Unlock()
		for ; next < len(lines); next++ {
			if m := re.FindStringSubmatch(lines[next].text); m != nil && ok(lines[next].text) {
				return m, nil
			}
		}
		if exited {
			return nil, fmt.Errorf("exited (%v) before printing a line matching %q", waitErr, re)
		}
		select {
		case <-changed:
		case <-timer.C:
			return nil, fmt.Errorf("no line matching %q after %v", re, timeout)
		}
	}
}

// wait waits for the program to exit by itself and returns how it ended; it fails the test that
// started the program when timeout passes first.
func (p *bgProc) wait(timeout time.Duration) error {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.t.Fatalf("%s still running after %v", p.name, timeout)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.waitErr
}

// waitExit waits up to timeout for the program to exit by itself; exited is false when it is still
// running, else err says how it ended.
func (p *bgProc) waitExit(timeout time.Duration) (exited bool, err error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-p.done:
	case <-timer.C:
		return false, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return true, p.waitErr
}

// bgLineWriter splits what a program writes into lines.
type bgLineWriter struct {
	p      *bgProc
	stderr bool
	buf    []byte
}

func (w *bgLineWriter) Write(b []byte) (int, error) {
	w.buf = append(w.buf, b...)
	for {
		i := bytes.IndexAny(w.buf, "\r\n")
		if i < 0 {
			break
		}
		line := strings.TrimRight(string(w.buf[:i]), " \t")
		w.buf = w.buf[i+1:]
		if line == "" {
			continue
		}
		w.p.mu.Lock()
		w.p.lines = append(w.p.lines, bgLine{stderr: w.stderr, text: line})
		close(w.p.changed)
		w.p.changed = make(chan struct{})
		w.p.mu.Unlock()
	}
	return len(b), nil
}

// bgShellQuote renders args as a shell command line, for logs.
func bgShellQuote(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t'\"&?;|*$") {
			q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		} else {
			q[i] = a
		}
	}
	return strings.Join(q, " ")
}

// eventLineRE matches the lines with the given "event" of a program that prints one JSON object per
// line (node/wt.mjs, node/lt.py, node/tracker.mjs).
func eventLineRE(event string) *regexp.Regexp {
	return regexp.MustCompile(`^\{.*"event": ?"` + regexp.QuoteMeta(event) + `".*$`)
}

// waitEvent waits for a JSON event line and decodes it into v.
func (p *bgProc) waitEvent(event string, v any, timeout time.Duration) {
	p.t.Helper()
	m := p.waitFor(eventLineRE(event), timeout)
	if v != nil {
		if err := json.Unmarshal([]byte(m[0]), v); err != nil {
			p.t.Fatalf("%s: event line is not JSON: %v\n%s", p.name, err, m[0])
		}
	}
}

// --- test data ---

// engineData is content on disk that a torrent is made of.
type engineData struct {
	path string            // the file, or the folder of a multi-file torrent
	name string            // its base name: the torrent's name
	sums map[string]string // path relative to path ("" for a single file) → SHA-256 hex
	size int64
}

// engineRNG returns a random source for test content and logs its seed, so that a failure can be replayed.
func engineRNG(t testing.TB) *mrand.ChaCha8 {
	var seed [32]byte
	binary.LittleEndian.PutUint64(seed[:], uint64(time.Now().UnixNano()))
	t.Logf("test content from seed %x", seed[:8])
	return mrand.NewChaCha8(seed)
}

// makeSingleData writes a file of n random bytes at dir/name.
func makeSingleData(t testing.TB, rng io.Reader, dir, name string, n int64) *engineData {
	t.Helper()
	p := filepath.Join(dir, name)
	writeRandomFile(t, rng, p, n)
	return &engineData{path: p, name: name, sums: sha256Tree(t, p), size: n}
}

// multiFileLayout is the multi-file test torrent: files whose sizes straddle piece boundaries, in
// nested folders, so that pieces span files for every piece length the clients choose.
var multiFileLayout = []struct {
	rel  string
	size int64
}{
	{"a.bin", 3<<20 + 12345},
	{"sub/b.bin", 1<<20 - 7},
	{"sub/deeper/c.dat", 77777},
	{"z.txt", 1000},
}

// makeMultiData writes the multi-file test folder at dir/name.
func makeMultiData(t testing.TB, rng io.Reader, dir, name string) *engineData {
	t.Helper()
	root := filepath.Join(dir, name)
	var total int64
	for _, f := range multiFileLayout {
		writeRandomFile(t, rng, filepath.Join(root, filepath.FromSlash(f.rel)), f.size)
		total += f.size
	}
	return &engineData{path: root, name: name, sums: sha256Tree(t, root), size: total}
}

func writeRandomFile(t testing.TB, rng io.Reader, path string, n int64) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyN(f, rng, n); err != nil {
		f.Close()
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// sha256Tree maps every regular file under root (or root itself, as "") to its SHA-256.
func sha256Tree(t testing.TB, root string) map[string]string {
	t.Helper()
	sums := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		if rel == "." {
			rel = ""
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			return err
		}
		sums[filepath.ToSlash(rel)] = hex.EncodeToString(h.Sum(nil))
		return nil
	})
	if err != nil {
		t.Fatalf("hashing %s: %v", root, err)
	}
	return sums
}

// check compares what a client downloaded into dir (dir/NAME, as every client lays torrents out) with
// the original content, file by file, by SHA-256. Files a client keeps beside the data (partial-file
// markers, resume data) are not its business: only the torrent's files are compared.
func (d *engineData) check(t testing.TB, who, dir string) {
	t.Helper()
	got := filepath.Join(dir, d.name)
	if _, err := os.Stat(got); err != nil {
		entries, _ := os.ReadDir(dir)
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("%s: %s was not downloaded: %v (the folder holds %q)", who, d.name, err, names)
		return
	}
	sums := sha256Tree(t, got)
	bad := 0
	for rel, want := range d.sums {
		switch have, ok := sums[rel]; {
		case !ok:
			t.Errorf("%s: %s is missing from the download", who, filepath.Join(d.name, rel))
			bad++
		case have != want:
			t.Errorf("%s: %s differs from the original (SHA-256 %s, want %s)", who, filepath.Join(d.name, rel), have, want)
			bad++
		}
	}
	if bad == 0 {
		t.Logf("%s: all %d file(s), %d bytes, match by SHA-256", who, len(d.sums), d.size)
	}
}

// freeTCPPort returns a TCP port that was free on host a moment ago, for programs that cannot be told to
// pick one themselves and report it (aria2, Transmission).
func freeTCPPort(t testing.TB, host string) int {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// --- the local tracker (node/tracker.mjs: bittorrent-tracker from npm) ---

// tracker is a running bittorrent-tracker.
type btTracker struct {
	*bgProc
	announce string // http://HOST:PORT/announce
	udp      string // udp://HOST:PORT, when started with UDP
}

// startBTTracker runs an HTTP (and with udp, UDP) tracker on host, in netns when it is not "".
func startBTTracker(t testing.TB, netns, host string, udp bool) *btTracker {
	t.Helper()
	requireNodeModule(t, "bittorrent-tracker")
	args := []string{filepath.Join("node", "tracker.mjs"), "--host", host}
	if udp {
		args = append(args, "--udp")
	}
	// The tracker serves every subtest of a client's test: it lives as long as they may take.
	p := startBG(t, "tracker", bgOpts{netns: netns, timeout: trackerTimeout}, "node", args...)
	var ev struct{ HTTP, UDP string }
	p.waitEvent("listening", &ev, engineReadyTimeout)
	return &btTracker{bgProc: p, announce: ev.HTTP, udp: ev.UDP}
}

// waitAnnounce waits for an announce of infoHash (any event) from a peer whose port is port (0: any).
func (tr *btTracker) waitAnnounce(infoHash string, port int, timeout time.Duration) error {
	re := regexp.MustCompile(`^\{.*"event":"(start|update|complete)".*$`)
	_, err := tr.waitMatch(re, func(line string) bool {
		var ev struct{ Addr, InfoHash string }
		if json.Unmarshal([]byte(line), &ev) != nil || !strings.EqualFold(ev.InfoHash, infoHash) {
			return false
		}
		if port == 0 {
			return true
		}
		_, p, err := net.SplitHostPort(ev.Addr)
		return err == nil && p == strconv.Itoa(port)
	}, timeout)
	return err
}

// trackerInterval is the announce interval node/tracker.mjs asks clients for.
const trackerInterval = 5 * time.Second

// announceCount is how many times the peer at port announced infoHash, as far as the tracker's output
// tells: every start, complete and stop, and the regular re-announces ("update"), which it counts.
func (tr *btTracker) announceCount(infoHash string, port int) int {
	events, updates := 0, 0
	for _, line := range tr.grep(regexp.MustCompile(`^\{.*"event":"(start|update|complete|stop)"`)) {
		var ev struct {
			Event, Addr, InfoHash string
			Count                 int
		}
		if json.Unmarshal([]byte(line), &ev) != nil || !strings.EqualFold(ev.InfoHash, infoHash) {
			continue
		}
		if _, p, err := net.SplitHostPort(ev.Addr); err != nil || p != strconv.Itoa(port) {
			continue
		}
		if ev.Event == "update" {
			updates = max(updates, ev.Count)
		} else {
			events++
		}
	}
	return events + updates
}

// checkAnnounceRate fails the test when swarmcast (at port) announced infoHash to the tracker more
// often than the tracker's interval allows over the time since start, with some slack.
func (tr *btTracker) checkAnnounceRate(t testing.TB, infoHash string, port int, start time.Time) {
	t.Helper()
	elapsed := time.Since(start)
	n := tr.announceCount(infoHash, port)
	if limit := 3 + int(elapsed/trackerInterval); n > limit {
		t.Errorf("swarmcast announced %s %d times in %v to a tracker that asks for one announce per %v "+
			"(at most %d expected): it hammers the tracker", infoHash, n, elapsed.Round(time.Second), trackerInterval, limit)
	}
}

// selfDialRE matches swarmcast's -v log line for a connection that turned out to be to itself (a
// tracker gives every peer its own address back among the others).
var selfDialRE = regexp.MustCompile(`connected to ourselves`)

// maxSelfDials is how many connections to itself a swarmcast may make in one test: one per address it
// learns is plenty; a swarmcast that redials its own address in a loop makes thousands.
const maxSelfDials = 10

// checkSelfDials fails the test when swarmcast's log shows it connecting to itself again and again.
func (p *bgProc) checkSelfDials(t testing.TB) {
	t.Helper()
	if n := len(p.grep(selfDialRE)); n > maxSelfDials {
		t.Errorf("%s connected to itself %d times in %v (its own address came back from the tracker): "+
			"it should remember that address and not dial it again", p.name, n, time.Since(p.start).Round(time.Second))
	}
}

// protocolErrorRE matches swarmcast's -v log line for a peer it dropped for breaking the protocol. The
// peers of these tests are real, widely used clients: when swarmcast finds one of them breaking the
// protocol, swarmcast reads the protocol more strictly than the clients that define it in practice.
var protocolErrorRE = regexp.MustCompile(`broke the protocol`)

// logErrRE finds the err attribute of a log line.
var logErrRE = regexp.MustCompile(`err="([^"]*)"`)

// checkProtocolErrors fails the test when swarmcast dropped a peer for breaking the protocol.
func (p *bgProc) checkProtocolErrors(t testing.TB) {
	t.Helper()
	lines := p.grep(protocolErrorRE)
	if len(lines) == 0 {
		return
	}
	seen := map[string]bool{}
	var distinct []string
	for _, l := range lines {
		// The same complaint about many connections is one finding.
		key := l
		if m := logErrRE.FindStringSubmatch(l); m != nil {
			key = m[1]
		}
		if !seen[key] {
			seen[key] = true
			distinct = append(distinct, l)
		}
	}
	t.Errorf("%s dropped %d connection(s) of a real client for breaking the protocol; swarmcast should "+
		"accept what these clients send:\n  %s", p.name, len(lines), strings.Join(distinct, "\n  "))
}

// --- swarmcast seed and download ---

// swarmcastSeeder is a running `swarmcast seed`.
type swarmcastSeeder struct {
	*bgProc
	name, infoHash, magnet string
	addr                   string // as printed: "listening on ADDR"
	port                   int
}

var (
	seedSeedingRE   = regexp.MustCompile(`^seeding (.+)$`)
	seedInfoHashRE  = regexp.MustCompile(`^info hash: ([0-9a-fA-F]{40})$`)
	seedListeningRE = regexp.MustCompile(`listening on (\S+)`)
	seedMagnetRE    = regexp.MustCompile(`^magnet: (magnet:\?\S+)$`)
)

// startSwarmcastSeed runs `swarmcast seed ARGS... --listen LISTEN -v` in dir and waits until it prints what it
// seeds, its info hash, its address and its magnet link.
func startSwarmcastSeed(t testing.TB, o bgOpts, listen string, args ...string) *swarmcastSeeder {
	t.Helper()
	args = append([]string{"seed"}, args...)
	args = append(args, "--listen", listen, "-v")
	p := startBG(t, "swarmcast seed", o, swarmcastBin(t), args...)
	s := &swarmcastSeeder{bgProc: p}
	s.name = p.waitFor(seedSeedingRE, engineReadyTimeout)[1]
	s.infoHash = strings.ToLower(p.waitFor(seedInfoHashRE, engineReadyTimeout)[1])
	s.addr = p.waitFor(seedListeningRE, engineReadyTimeout)[1]
	s.magnet = p.waitFor(seedMagnetRE, engineReadyTimeout)[1]
	_, port, err := net.SplitHostPort(s.addr)
	if err != nil {
		t.Fatalf("swarmcast seed: listening address %q: %v", s.addr, err)
	}
	s.port, _ = strconv.Atoi(port)
	t.Logf("swarmcast seeds %s (%s) on %s after %v", s.name, s.infoHash, s.addr, time.Since(p.start).Round(time.Millisecond))
	return s
}

// peerAddr is the seeder's address as another program on host reaches it.
func (s *swarmcastSeeder) peerAddr(host string) string {
	return net.JoinHostPort(host, strconv.Itoa(s.port))
}

// downloadProgress is one JSON progress line of `swarmcast download` (stderr).
type downloadProgress struct {
	InfoHash           string           `json:"infoHash"`
	Name               string           `json:"name"`
	Progress           float64          `json:"progress"`
	Downloaded         int64            `json:"downloaded"`
	NumPeers           int              `json:"numPeers"`
	Done               bool             `json:"done"`
	DownloadedBySource map[string]int64 `json:"downloadedBySource"`
}

var downloadProgressRE = regexp.MustCompile(`^\{.*"progress"`)

// downloadRun is one run of `swarmcast download`, over or given up on.
type downloadRun struct {
	*bgProc
	took     time.Duration    // until it exited, or until it was given up on
	last     downloadProgress // its last JSON progress line
	err      error            // how it exited
	timedOut bool             // still running when its time was up (then stopped)
}

// runSwarmcastDownload runs `swarmcast download TARGET -o OUT --listen LISTEN ARGS...` until it exits or
// timeout passes, when it is stopped. Unlike swarmcastDownload it fails nothing: the caller judges.
func runSwarmcastDownload(t testing.TB, o bgOpts, timeout time.Duration, target, out, listen string, args ...string) *downloadRun {
	t.Helper()
	all := append([]string{"download", target, "-o", out, "--listen", listen}, args...)
	r := &downloadRun{bgProc: startBG(t, "swarmcast download", o, swarmcastBin(t), all...)}
	exited, err := r.waitExit(timeout)
	r.err, r.timedOut = err, !exited
	if r.timedOut {
		r.took = time.Since(r.start)
		r.stop()
	} else {
		r.took = r.end.Sub(r.start)
	}
	if lines := r.grep(downloadProgressRE); len(lines) > 0 {
		_ = json.Unmarshal([]byte(lines[len(lines)-1]), &r.last)
	}
	return r
}

// swarmcastDownload runs `swarmcast download TARGET -o OUT --listen LISTEN -v ARGS...` until it exits, and
// fails the test unless it exits 0 within engineTransferTimeout. It returns how long it took.
func swarmcastDownload(t testing.TB, o bgOpts, target, out, listen string, args ...string) time.Duration {
	t.Helper()
	return swarmcastDownloadRun(t, o, target, out, listen, args...).took
}

// swarmcastDownloadRun is swarmcastDownload, returning the whole run.
func swarmcastDownloadRun(t testing.TB, o bgOpts, target, out, listen string, args ...string) *downloadRun {
	t.Helper()
	r := runSwarmcastDownload(t, o, engineTransferTimeout, target, out, listen, append([]string{"-v"}, args...)...)
	// These explain a failure as well as they flag a success that came the hard way.
	r.checkSelfDials(t)
	r.checkProtocolErrors(t)
	switch {
	case r.timedOut:
		t.Fatalf("swarmcast download %s still running after %v (last progress: %+v)", target, engineTransferTimeout, r.last)
	case r.err != nil:
		t.Fatalf("swarmcast download %s failed after %v: %v (last progress: %+v)", target, r.took.Round(time.Millisecond), r.err, r.last)
	}
	t.Logf("swarmcast download took %v; last progress line: progress %.3f, %d bytes, by source %v",
		r.took.Round(time.Millisecond), r.last.Progress, r.last.Downloaded, r.last.DownloadedBySource)
	return r
}

// --- network namespaces (for Transmission, which refuses loopback peers) ---

// netnsCounter makes namespace names unique within one test process; the PID makes them unique across
// concurrent runs.
var netnsCounter atomic.Int64

// The two hosts of a namespace pair: addresses outside 127.0.0.0/8, so that Transmission does not drop
// them as "martians", which exist only inside the two namespaces (they have no route out). Two hosts,
// not one address for all: Transmission keys the peers it knows by IP address alone, so a second
// program at its own address looks like itself and is dropped.
const (
	netnsPeerAddr = "10.77.0.1"
	netnsSCAddr   = "10.77.0.2"
)

// newNetnsPair creates two network namespaces joined by a veth pair, peer (netnsPeerAddr) and sc
// (netnsSCAddr), each with its loopback up, and deletes them (and so the veth pair) when the test ends.
func newNetnsPair(t testing.TB) (peer, sc string) {
	t.Helper()
	requireTool(t, "ip")
	if os.Geteuid() != 0 {
		missing(t, "root (to create network namespaces)")
	}
	n := netnsCounter.Add(1)
	peer = fmt.Sprintf("swarmcast-it-%d-%d-peer", os.Getpid(), n)
	sc = fmt.Sprintf("swarmcast-it-%d-%d-sc", os.Getpid(), n)
	ipCmd := func(args ...string) error {
		r := run(t, "", "ip", args...)
		if r.err != nil {
			return fmt.Errorf("ip %s: %s", strings.Join(args, " "), r.message())
		}
		return nil
	}
	for _, ns := range []string{peer, sc} {
		if err := ipCmd("netns", "add", ns); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := ipCmd("netns", "delete", ns); err != nil {
				t.Error(err)
			}
		})
	}
	// The veth ends are made inside the namespaces, so their names cannot clash with anything outside.
	for _, args := range [][]string{
		{"link", "add", "veth-peer", "netns", peer, "type", "veth", "peer", "name", "veth-sc", "netns", sc},
		{"-n", peer, "addr", "add", netnsPeerAddr + "/24", "dev", "veth-peer"},
		{"-n", sc, "addr", "add", netnsSCAddr + "/24", "dev", "veth-sc"},
		{"-n", peer, "link", "set", "veth-peer", "up"},
		{"-n", sc, "link", "set", "veth-sc", "up"},
		{"-n", peer, "link", "set", "lo", "up"},
		{"-n", sc, "link", "set", "lo", "up"},
	} {
		if err := ipCmd(args...); err != nil {
			t.Fatal(err)
		}
	}
	return peer, sc
}
