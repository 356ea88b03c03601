package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/swarmcast/swarmcast/metainfo"
	"github.com/swarmcast/swarmcast/torrent"
)

// statusInterval is how often progress is printed.
const statusInterval = time.Second

// errInterrupted is returned when the user stops a command early.
var errInterrupted = errors.New("interrupted; verified data is kept, run the same command again to resume")

func runDownload(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("download", "TORRENT|MAGNET [flags]", stderr)
	var cf clientFlags
	cf.register(fs)
	out := fs.String("o", ".", "download into `DIR`")
	sel := fs.String("select", "", "download only these files: indices like \"0,2-4\" (BEP 53)")
	seed := fs.Bool("seed", false, "keep seeding after the download completes, until interrupted")
	noVerify := fs.Bool("no-verify", false, "do not hash-check data already in DIR that resume data does not vouch for")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if err := exactArgs(pos, 1, "a .torrent file or a magnet link"); err != nil {
		return err
	}
	opt := torrent.AddOptions{Peers: cf.peers, Trackers: cf.trackers, Verify: !*noVerify}
	if *sel != "" {
		r, err := metainfo.ParseSelect(*sel)
		if err != nil {
			return fmt.Errorf("%w: --select: %v", errUsage, err)
		}
		opt.Select = metainfo.Indices(r)
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	s, err := cf.start(*out, stderr)
	if err != nil {
		return err
	}
	defer s.close()
	t, err := addArg(s.client, pos[0], opt)
	if err != nil {
		return err
	}
	if !cf.quiet && !cf.json {
		fmt.Fprintf(stderr, "listening on %s\n", s.listen)
	}
	rep := newReporter(stderr, &cf)
	done := make(chan error, 1)
	go func() { done <- t.WaitComplete(ctx) }()
	tick := time.NewTicker(statusInterval)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			rep.report(t, true)
			if err != nil {
				if ctx.Err() != nil {
					return rep.interrupted()
				}
				return err
			}
			if !cf.quiet && !cf.json {
				fmt.Fprintf(stderr, "done: %s\n", t.Name())
			}
			if !*seed {
				return nil
			}
			return seedUntilInterrupted(ctx, t, rep)
		case <-tick.C:
			rep.report(t, false)
		}
	}
}

// seedUntilInterrupted reports progress until the user stops the command.
func seedUntilInterrupted(ctx context.Context, t *torrent.Torrent, rep *reporter) error {
	tick := time.NewTicker(statusInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			rep.report(t, false)
		}
	}
}

// addArg adds a torrent given as a .torrent path, a magnet link or an info hash.
func addArg(c *torrent.Client, arg string, opt torrent.AddOptions) (*torrent.Torrent, error) {
	if isMagnetArg(arg) {
		m := arg
		if !strings.HasPrefix(arg, "magnet:") {
			m = "magnet:?xt=urn:btih:" + arg
		}
		return c.AddMagnet(m, opt)
	}
	mi, err := metainfo.LoadFile(arg)
	if err != nil {
		return nil, err
	}
	return c.AddTorrent(mi, opt)
}

// reporter prints progress: a bar on a terminal, JSON lines otherwise; and,
// once each, the engine's warnings (an address that cannot be reached, a
// magnet whose peers cannot send the metadata), and now and then a line
// saying why there are no peers.
type reporter struct {
	w      io.Writer
	quiet  bool
	json   bool
	bar    bool
	start  time.Time
	said   map[string]bool // warnings printed
	lastNo time.Time       // when "no peers yet" was last printed
	last   torrent.Stats   // the newest stats, for the reason of an early stop
}

// noPeersAfter and noPeersEvery pace the "no peers yet" line: not before
// trackers had a chance to answer, then twice a minute.
const (
	noPeersAfter = 10 * time.Second
	noPeersEvery = 30 * time.Second
	// maxSaid bounds the warnings remembered as printed.
	maxSaid = 256
)

func newReporter(w io.Writer, cf *clientFlags) *reporter {
	return &reporter{w: w, quiet: cf.quiet, json: cf.json || !isTerminal(w), bar: isTerminal(w) && !cf.json,
		start: time.Now(), said: map[string]bool{}}
}

// warn prints a line for the user: its own JSON object in JSON mode, a
// plain line (below the bar) otherwise.
func (r *reporter) warn(s torrent.Stats, text string) {
	if r.json {
		b, _ := json.Marshal(struct {
			Time     string `json:"time"`
			InfoHash string `json:"infoHash"`
			Warning  string `json:"warning"`
		}{time.Now().UTC().Format(time.RFC3339), s.InfoHash, text})
		fmt.Fprintf(r.w, "%s\n", b)
		return
	}
	fmt.Fprintf(r.w, "\r\033[K%s\n", text)
}

// notices prints new warnings, and the "no peers yet" summary when due.
func (r *reporter) notices(s torrent.Stats) {
	for _, w := range s.Warnings {
		if !r.said[w] && len(r.said) < maxSaid {
			r.said[w] = true
			r.warn(s, w)
		}
	}
	now := time.Now()
	if s.Peers > 0 || s.Complete || now.Sub(r.start) < noPeersAfter || now.Sub(r.lastNo) < noPeersEvery {
		return
	}
	r.lastNo = now
	r.warn(s, noPeersLine(s))
}

// noPeersLine says why a download has no peer: "no peers yet: 0 from
// trackers, 1 address failing (connection refused)".
func noPeersLine(s torrent.Stats) string {
	line := fmt.Sprintf("no peers yet: %d from trackers", s.CandidatesBySource["tracker"])
	for _, src := range []string{"dht", "pex", "lsd"} {
		if n := s.CandidatesBySource[src]; n > 0 {
			line += fmt.Sprintf(", %d from %s", n, strings.ToUpper(src))
		}
	}
	switch s.PeersFailing {
	case 0:
	case 1:
		line += ", 1 address failing"
	default:
		line += fmt.Sprintf(", %d addresses failing", s.PeersFailing)
	}
	if s.LastError != "" && s.PeersFailing > 0 {
		line += " (" + s.LastError + ")"
	}
	return line
}

// interrupted returns the error for a download stopped by the user, saying
// why nothing came when nothing did.
func (r *reporter) interrupted() error {
	s := r.last
	if s.DownloadedTotal > 0 || s.Peers > 0 || s.InfoHash == "" {
		return errInterrupted
	}
	why := noPeersLine(s)
	if len(s.Warnings) > 0 {
		why = s.Warnings[len(s.Warnings)-1]
	}
	return nothingCame{why}
}

// nothingCame is errInterrupted when no byte came: it says why instead.
type nothingCame struct{ why string }

func (e nothingCame) Error() string {
	return "interrupted; nothing was downloaded: " + e.why
}

func (e nothingCame) Unwrap() error { return errInterrupted }

// progressLine is one JSON progress line.
type progressLine struct {
	Time         string           `json:"time"`
	InfoHash     string           `json:"infoHash"`
	Name         string           `json:"name"`
	Progress     float64          `json:"progress"`
	Length       int64            `json:"length"`
	BytesLeft    int64            `json:"bytesLeft"`
	Downloaded   int64            `json:"downloaded"`
	Uploaded     int64            `json:"uploaded"`
	DownloadRate float64          `json:"downloadSpeed"`
	UploadRate   float64          `json:"uploadSpeed"`
	Peers        int              `json:"numPeers"`
	BySource     map[string]int64 `json:"downloadedBySource"`
	// Bytes exchanged with peers on our own network (--local-network, LSD).
	DownloadedLocal int64 `json:"downloadedLocal"`
	UploadedLocal   int64 `json:"uploadedLocal"`
	// Bytes received that were not used: duplicates and late blocks.
	Wasted       int64          `json:"wasted"`
	Addresses    map[string]int `json:"addressesBySource,omitempty"` // known peer addresses by who gave them (dht, tracker, ...)
	Complete     bool           `json:"done"`
	Error        string         `json:"error,omitempty"`
	PeersFailing int            `json:"peersFailing"`
	LastError    string         `json:"lastError,omitempty"`
}

func (r *reporter) report(t *torrent.Torrent, final bool) {
	if r.quiet {
		r.last = t.Stats()
		return
	}
	s := t.Stats()
	r.last = s
	r.notices(s)
	progress := 0.0
	if s.BytesWanted > 0 {
		progress = float64(s.BytesWanted-s.BytesLeft) / float64(s.BytesWanted)
	}
	if r.json {
		b, _ := json.Marshal(progressLine{
			Time: time.Now().UTC().Format(time.RFC3339), InfoHash: s.InfoHash, Name: s.Name, Progress: progress,
			Length: s.BytesWanted, BytesLeft: s.BytesLeft, Downloaded: s.DownloadedTotal, Uploaded: s.UploadedTotal,
			DownloadRate: s.DownloadRate, UploadRate: s.UploadRate, Peers: s.Peers, BySource: s.Downloaded, Addresses: s.CandidatesBySource,
			DownloadedLocal: s.DownloadedLocal, UploadedLocal: s.UploadedLocal, Wasted: s.Wasted,
			Complete: s.Complete, Error: s.Error, PeersFailing: s.PeersFailing, LastError: s.LastError,
		})
		fmt.Fprintf(r.w, "%s\n", b)
		return
	}
	const width = 30
	filled := int(progress * width)
	meta := ""
	if !s.HasInfo {
		meta = " (fetching metadata)"
	}
	fmt.Fprintf(r.w, "\r%s [%s%s] %5.1f%% ↓ %s/s ↑ %s/s peers %d%s ", s.Name, strings.Repeat("=", filled), strings.Repeat(" ", width-filled),
		progress*100, formatBytes(int64(s.DownloadRate)), formatBytes(int64(s.UploadRate)), s.Peers, meta)
	if final {
		fmt.Fprintln(r.w)
	}
}
