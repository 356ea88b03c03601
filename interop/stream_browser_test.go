package interop

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestStreamBrowser plays a real video in headless Chromium through `swarmcast stream`: one swarmcast
// seeds an H.264/AAC MP4 at a limited upload rate, another streams it while it downloads, and
// browser/play.mjs (npm playwright-core driving apt's chromium) opens the player page and checks what a
// viewer sees: the first frame, playback that advances, and a seek to 80% of the duration that resumes
// playing there. It logs the time to the first frame, the time a seek takes to resume and how often the
// video stalled ('waiting' events).
//
// Two layouts of the same video: "faststart" (the moov atom, the index, first) and "moov-at-end" (as
// ffmpeg writes an MP4 by default), where the browser must read the end of the file before it can play
// a frame from the start.
func TestStreamBrowser(t *testing.T) {
	ffmpeg := requireTool(t, "ffmpeg")
	chromium := requireTool(t, "chromium")
	requireNodeModule(t, "playwright-core")
	swarmcastBin(t)

	dir := t.TempDir()
	fast := filepath.Join(dir, "faststart.mp4")
	makeTestVideo(t, ffmpeg, fast)
	end := filepath.Join(dir, "moov-at-end.mp4")
	// A remux without +faststart writes the same streams with the moov atom after the media data.
	streamFFmpeg(t, ffmpeg, "-i", fast, "-map", "0", "-c", "copy", end)

	for _, tc := range []struct {
		name     string
		video    string
		moovLast bool
	}{
		{"faststart", fast, false},
		{"moov-at-end", end, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkMoovPlace(t, tc.video, tc.moovLast)
			playInBrowser(t, chromium, tc.video)
		})
	}
}

const (
	// streamVideoSeconds is the length of the test video: long enough that a seek to 80% lands well
	// past what plays in the first seconds, short enough to encode in seconds.
	streamVideoSeconds = 30

	// streamVideoBitrate is the video's bitrate. testsrc alone compresses to ~15 kB/s, which would
	// arrive whole before the page loads; with noise on top and a fixed bitrate the file is ~15 MiB,
	// so that at streamUpLimit it takes ~10 s to download: the browser plays while it does.
	streamVideoBitrate = "4M"

	// streamUpLimit is the seeder's upload limit: 1.5 MB/s is three times the video's bitrate, enough
	// to play without stalls once started, too little for the file to be there before the seek (at
	// 2 MB/s, a page slow to load under heavy load let the download reach 90% before the seek).
	streamUpLimit = "1.5MB"

	// streamPieceLength is a piece length common for videos of this size (WebTorrent picks 16–256 KiB).
	streamPieceLength = "256KiB"

	// streamEncodeTimeout bounds ffmpeg: encoding the 30 s video takes ~7 s on a loaded 2-core machine.
	streamEncodeTimeout = 3 * time.Minute

	// streamStepTimeout bounds each step of play.mjs (Chromium's start, the first frame, 2 s of playback,
	// the seek, 2 s more); the whole run is bounded by four times that. Here Chromium starts in ~4 s,
	// the first frame shows ~2–3 s after the page loads and a seek resumes in ~1 s, all under heavy load.
	streamStepTimeout = 30 * time.Second

	// streamAdvanceSeconds is how much media time must play, at the start and after the seek.
	streamAdvanceSeconds = 2

	// streamSeekFraction is where in the video the seek goes.
	streamSeekFraction = 0.8
)

// makeTestVideo encodes a streamVideoSeconds H.264/AAC MP4 with the index first (+faststart).
func makeTestVideo(t *testing.T, ffmpeg, out string) {
	t.Helper()
	dur := fmt.Sprint(streamVideoSeconds)
	start := time.Now()
	streamFFmpeg(t, ffmpeg,
		"-f", "lavfi", "-i", "testsrc=size=640x360:rate=30:duration="+dur,
		"-f", "lavfi", "-i", "sine=frequency=440:duration="+dur,
		// Noise keeps testsrc from compressing to almost nothing (see streamVideoBitrate).
		"-vf", "noise=alls=20:allf=t",
		"-c:v", "libx264", "-preset", "ultrafast", "-b:v", streamVideoBitrate, "-maxrate", streamVideoBitrate, "-bufsize", "8M",
		// A keyframe every 2 s, as streaming encoders make them: a seek decodes from the keyframe before
		// its target, and x264's default of one every 250 frames (8.3 s) would make the browser fetch
		// up to 8 s of video before it can show the target.
		"-g", "60",
		"-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "128k", "-movflags", "+faststart", out)
	st, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("encoded a %d s H.264/AAC video of %.1f MiB in %v", streamVideoSeconds, float64(st.Size())/(1<<20), time.Since(start).Round(time.Millisecond))
}

// streamFFmpeg runs ffmpeg quietly with args (output overwritten) under streamEncodeTimeout.
func streamFFmpeg(t *testing.T, ffmpeg string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), streamEncodeTimeout)
	defer cancel()
	all := append([]string{"-hide_banner", "-loglevel", "error", "-nostdin", "-y"}, args...)
	out, err := exec.CommandContext(ctx, ffmpeg, all...).CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("ffmpeg %s: timed out after %v", bgShellQuote(all), streamEncodeTimeout)
	}
	if err != nil {
		t.Fatalf("ffmpeg %s: %v\n%s", bgShellQuote(all), err, out)
	}
}

// checkMoovPlace checks from the MP4's top-level boxes that its moov atom is where the case needs it:
// after the media data (mdat) when moovLast, before it otherwise.
func checkMoovPlace(t *testing.T, path string, moovLast bool) {
	t.Helper()
	boxes, err := mp4TopBoxes(path)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	moov, mdat := -1, -1
	for i, b := range boxes {
		switch b {
		case "moov":
			moov = i
		case "mdat":
			mdat = i
		}
	}
	if moov < 0 || mdat < 0 || (moov > mdat) != moovLast {
		t.Fatalf("%s: top-level boxes %v: want moov %s mdat", path, boxes, map[bool]string{true: "after", false: "before"}[moovLast])
	}
	t.Logf("%s: top-level boxes %v", filepath.Base(path), boxes)
}

// mp4TopBoxes lists the types of an MP4 file's top-level boxes, in order.
func mp4TopBoxes(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	var types []string
	for off := int64(0); off < st.Size(); {
		var h [16]byte
		if _, err := f.ReadAt(h[:8], off); err != nil {
			return nil, fmt.Errorf("box header at %d: %w", off, err)
		}
		size := int64(binary.BigEndian.Uint32(h[:4]))
		switch size {
		case 0: // to the end of the file
			size = st.Size() - off
		case 1: // a 64-bit size follows the type
			if _, err := f.ReadAt(h[8:16], off+8); err != nil {
				return nil, fmt.Errorf("box size at %d: %w", off, err)
			}
			size = int64(binary.BigEndian.Uint64(h[8:16]))
		}
		if size < 8 {
			return nil, fmt.Errorf("box %q at %d has size %d", h[4:8], off, size)
		}
		types = append(types, string(h[4:8]))
		off += size
	}
	return types, nil
}

// playResult is what browser/play.mjs prints.
type playResult struct {
	OK             bool     `json:"ok"`
	Error          string   `json:"error"`
	Step           string   `json:"step"`
	URL            string   `json:"url"`
	UserAgent      string   `json:"userAgent"`
	VideoCreatedMs *float64 `json:"videoCreatedMs"`
	FirstFrameMs   *float64 `json:"firstFrameMs"`
	FirstPlayingMs *float64 `json:"firstPlayingMs"`
	Duration       float64  `json:"duration"`
	VideoWidth     int      `json:"videoWidth"`
	VideoHeight    int      `json:"videoHeight"`
	Advance        *struct {
		FromTime float64 `json:"fromTime"`
		ToTime   float64 `json:"toTime"`
		WallMs   float64 `json:"wallMs"`
	} `json:"advance"`
	Seek *struct {
		Target         float64     `json:"target"`
		BufferedBefore [][]float64 `json:"bufferedBefore"`
		TorrentBefore  struct {
			Progress            *float64 `json:"progress"`
			Pieces              int      `json:"pieces"`
			PieceAtFraction     int      `json:"pieceAtFraction"`
			HavePieceAtFraction *bool    `json:"havePieceAtFraction"`
			Error               string   `json:"error"`
		} `json:"torrentBefore"`
		SeekedMs     float64  `json:"seekedMs"`
		ResumeMs     float64  `json:"resumeMs"`
		FirstFrameMs *float64 `json:"firstFrameMs"`
		TimeAtResume float64  `json:"timeAtResume"`
		AfterAdvance *struct {
			FromTime float64 `json:"fromTime"`
			ToTime   float64 `json:"toTime"`
			WallMs   float64 `json:"wallMs"`
		} `json:"afterAdvance"`
	} `json:"seek"`
	Screenshot string `json:"screenshot"`
	Final      *struct {
		CurrentTime float64         `json:"currentTime"`
		Duration    float64         `json:"duration"`
		Paused      bool            `json:"paused"`
		ReadyState  int             `json:"readyState"`
		Buffered    [][]float64     `json:"buffered"`
		MediaError  json.RawMessage `json:"mediaError"`
		Status      string          `json:"status"`
	} `json:"final"`
	Counters *struct {
		Waiting int `json:"waiting"`
		Playing int `json:"playing"`
		Errors  int `json:"errors"`
	} `json:"counters"`
	Events []struct {
		Type string  `json:"type"`
		At   float64 `json:"at"`
		T    float64 `json:"t"`
	} `json:"events"`
	Console        []string `json:"console"`
	FailedRequests []string `json:"failedRequests"`
	MediaRequests  []struct {
		Range      *string  `json:"range"`
		StartMs    *float64 `json:"startMs"`
		ResponseMs *float64 `json:"responseMs"`
		EndMs      *float64 `json:"endMs"`
		Status     int      `json:"status"`
		Failure    *string  `json:"failure"`
	} `json:"mediaRequests"`
}

var (
	streamURLRE = regexp.MustCompile(`^stream: (http://\S+)$`)
	playerURLRE = regexp.MustCompile(`^player: (http://\S+)$`)
	playJSONRE  = regexp.MustCompile(`^\{"ok":`)
)

// playInBrowser seeds video from one swarmcast at streamUpLimit, streams it through another and plays
// it in Chromium.
func playInBrowser(t *testing.T, chromium, video string) {
	dir := t.TempDir()
	torrentFile := filepath.Join(dir, "video.torrent")
	seeder := startSwarmcastSeed(t, bgOpts{}, "127.0.0.1:0", video, "-o", torrentFile,
		"--up-limit", streamUpLimit, "--piece-length", streamPieceLength)

	// Chromium first: the stream starts downloading as soon as it runs, and Chromium's start-up (4 s
	// here, more under load) would otherwise let the download race ahead of the page.
	urlFile := filepath.Join(dir, "player-url")
	shot := filepath.Join(dir, "player.png")
	play := startBG(t, "play.mjs", bgOpts{}, "node", filepath.Join("browser", "play.mjs"),
		"--url-file", urlFile, "--screenshot", shot, "--chromium", chromium,
		"--timeout", fmt.Sprint(int(streamStepTimeout/time.Second)),
		"--seek", fmt.Sprint(streamSeekFraction), "--advance", fmt.Sprint(streamAdvanceSeconds))
	if _, err := play.waitMatch(regexp.MustCompile(`chromium started`), func(string) bool { return true }, streamStepTimeout); err != nil {
		t.Fatalf("Chromium did not start: play.mjs: %v (its output follows)", err)
	}

	stream := startBG(t, "swarmcast stream", bgOpts{}, swarmcastBin(t), "stream", torrentFile,
		"--peer", seeder.peerAddr("127.0.0.1"), "--http", "127.0.0.1:0", "--listen", "127.0.0.1:0",
		"-o", filepath.Join(dir, "stream"), "-v")
	streamURL := stream.waitFor(streamURLRE, engineReadyTimeout)[1]
	playerURL := stream.waitFor(playerURLRE, engineReadyTimeout)[1]
	tmp := urlFile + ".tmp"
	if err := os.WriteFile(tmp, []byte(playerURL+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, urlFile); err != nil {
		t.Fatal(err)
	}

	waitErr := play.wait(4*streamStepTimeout + 30*time.Second)
	var res playResult
	lines := play.grep(playJSONRE)
	if len(lines) == 0 {
		t.Fatalf("play.mjs printed no result (%v)", waitErr)
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil {
		t.Fatalf("play.mjs result is not JSON: %v\n%s", err, lines[len(lines)-1])
	}
	keepScreenshot(t, shot)
	if !res.OK || waitErr != nil {
		// The cleanup of each program logs its last lines: the stream's stderr (-v) among them.
		t.Fatalf("playing %s in Chromium failed at step %q: %s\n%s", playerURL, res.Step, res.Error, describePlay(&res))
	}
	t.Logf("%s\n%s", res.UserAgent, describePlay(&res))
	if res.FirstFrameMs != nil && res.Seek != nil && res.Counters != nil {
		t.Logf("summary: time to first frame %.0f ms after page load, seek to %.0f%% resumed in %.0f ms, %d 'waiting' events",
			*res.FirstFrameMs, 100*streamSeekFraction, res.Seek.ResumeMs, res.Counters.Waiting)
	}

	if res.Counters == nil {
		t.Errorf("the player page has no window.swarmcastPlayer counters")
	} else if res.Counters.Errors > 0 {
		t.Errorf("the player page counted %d media errors (final state: %+v)", res.Counters.Errors, res.Final)
	}
	if res.VideoWidth != 640 || res.VideoHeight != 360 {
		t.Errorf("video size in the page is %dx%d, want 640x360", res.VideoWidth, res.VideoHeight)
	}
	if d := res.Duration; d < streamVideoSeconds-1 || d > streamVideoSeconds+1 {
		t.Errorf("video duration in the page is %.2f s, want ~%d s", d, streamVideoSeconds)
	}
	if s := res.Seek; s != nil && (s.TimeAtResume < s.Target || s.TimeAtResume > s.Target+3) {
		t.Errorf("after the seek to %.2f s playback resumed at %.2f s, want within 3 s after the target", s.Target, s.TimeAtResume)
	}
	if s := res.Seek; s != nil && s.TorrentBefore.HavePieceAtFraction != nil && *s.TorrentBefore.HavePieceAtFraction {
		t.Logf("note: the piece at %.0f%% of the file was already downloaded when the seek began, so this run "+
			"did not seek into missing data", 100*streamSeekFraction)
	}
	checkStreamBytes(t, streamURL, video)
}

// describePlay summarizes a play.mjs result for the test log.
func describePlay(r *playResult) string {
	var b strings.Builder
	ms := func(p *float64) string {
		if p == nil {
			return "-"
		}
		return fmt.Sprintf("%.0f ms", *p)
	}
	fmt.Fprintf(&b, "  page: video element %s after navigation, first frame %s, 'playing' %s",
		ms(r.VideoCreatedMs), ms(r.FirstFrameMs), ms(r.FirstPlayingMs))
	if r.VideoCreatedMs != nil && r.FirstFrameMs != nil {
		fmt.Fprintf(&b, " (time to first frame from the video element: %.0f ms)", *r.FirstFrameMs-*r.VideoCreatedMs)
	}
	if a := r.Advance; a != nil {
		fmt.Fprintf(&b, "\n  played %.2f → %.2f s of media in %.0f ms", a.FromTime, a.ToTime, a.WallMs)
	}
	var seekStart float64 = -1
	if s := r.Seek; s != nil {
		tb := s.TorrentBefore
		prog := "?"
		if tb.Progress != nil {
			prog = fmt.Sprintf("%.0f%%", 100**tb.Progress)
		}
		have := "?"
		if tb.HavePieceAtFraction != nil {
			have = map[bool]string{true: "had", false: "did not have"}[*tb.HavePieceAtFraction]
		}
		fmt.Fprintf(&b, "\n  seek to %.2f s: the stream had %s of %d pieces and %s piece %d; buffered %v",
			s.Target, prog, tb.Pieces, have, tb.PieceAtFraction, s.BufferedBefore)
		fmt.Fprintf(&b, "\n  seek resume: 'seeked' after %.0f ms, first frame there %s, playing past the target after %.0f ms (at %.2f s)",
			s.SeekedMs, ms(s.FirstFrameMs), s.ResumeMs, s.TimeAtResume)
		if a := s.AfterAdvance; a != nil {
			fmt.Fprintf(&b, "\n  then played %.2f → %.2f s in %.0f ms", a.FromTime, a.ToTime, a.WallMs)
		}
	}
	var before, during int
	for _, e := range r.Events {
		if e.Type == "seeking" && seekStart < 0 {
			seekStart = e.At
		}
		if e.Type == "waiting" {
			if seekStart < 0 {
				before++
			} else {
				during++
			}
		}
	}
	if c := r.Counters; c != nil {
		fmt.Fprintf(&b, "\n  player counters: waiting %d (%d before the seek, %d from it on), playing %d, errors %d",
			c.Waiting, before, during, c.Playing, c.Errors)
	}
	if f := r.Final; f != nil {
		fmt.Fprintf(&b, "\n  final: currentTime %.2f of %.2f, paused %v, readyState %d, buffered %v, status %q",
			f.CurrentTime, f.Duration, f.Paused, f.ReadyState, f.Buffered, f.Status)
		if len(f.MediaError) > 0 && string(f.MediaError) != "null" {
			fmt.Fprintf(&b, ", media error %s", f.MediaError)
		}
	}
	if len(r.Events) > 0 {
		b.WriteString("\n  events:")
		for _, e := range r.Events {
			fmt.Fprintf(&b, " %s@%.0fms(t=%.2f)", e.Type, e.At, e.T)
		}
	}
	for _, m := range r.MediaRequests {
		rg, end := "(no Range)", "still open"
		if m.Range != nil {
			rg = *m.Range
		}
		if m.EndMs != nil {
			end = "ended " + ms(m.EndMs)
		}
		if m.Failure != nil {
			end += " (" + *m.Failure + ")"
		}
		fmt.Fprintf(&b, "\n  media request %s: sent %s, HTTP %d at %s, %s", rg, ms(m.StartMs), m.Status, ms(m.ResponseMs), end)
	}
	for _, c := range r.Console {
		fmt.Fprintf(&b, "\n  console %s", c)
	}
	for _, f := range r.FailedRequests {
		if !strings.Contains(f, "/webtorrent/") { // the media requests are listed above
			fmt.Fprintf(&b, "\n  failed request %s", f)
		}
	}
	return b.String()
}

// keepScreenshot copies the screenshot into $SWARMCAST_SCREENSHOTS, when set, to look at after the test
// (the test's own temp dir is removed).
func keepScreenshot(t *testing.T, shot string) {
	t.Helper()
	st, err := os.Stat(shot)
	if err != nil {
		t.Errorf("play.mjs left no screenshot: %v", err)
		return
	}
	t.Logf("screenshot: %d bytes", st.Size())
	keep := os.Getenv("SWARMCAST_SCREENSHOTS")
	if keep == "" {
		return
	}
	b, err := os.ReadFile(shot)
	if err == nil {
		err = os.MkdirAll(keep, 0o755)
	}
	if err == nil {
		name := strings.NewReplacer("/", "-", " ", "_").Replace(t.Name()) + ".png"
		err = os.WriteFile(filepath.Join(keep, name), b, 0o644)
	}
	if err != nil {
		t.Errorf("keeping the screenshot: %v", err)
	}
}

// checkStreamBytes compares some Range responses of the stream with the source file: a prefix, a few
// random ranges and a suffix range.
func checkStreamBytes(t *testing.T, streamURL, source string) {
	t.Helper()
	want, err := os.ReadFile(source)
	if err != nil {
		t.Fatal(err)
	}
	n := int64(len(want))
	rng := mrand.New(mrand.NewPCG(uint64(n), 1))
	type span struct{ start, end int64 } // inclusive
	spans := []span{{0, 99}, {n - 5000, n - 1}}
	for range 4 {
		s := rng.Int64N(n - 65536)
		spans = append(spans, span{s, s + 65535})
	}
	client := &http.Client{Timeout: streamStepTimeout}
	for _, sp := range spans {
		req, err := http.NewRequest(http.MethodGet, streamURL, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", sp.start, sp.end))
		resp, err := client.Do(req)
		if err != nil {
			t.Errorf("GET %s bytes %d-%d: %v", streamURL, sp.start, sp.end, err)
			continue
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch {
		case err != nil:
			t.Errorf("GET bytes %d-%d: reading the body: %v", sp.start, sp.end, err)
		case resp.StatusCode != http.StatusPartialContent:
			t.Errorf("GET bytes %d-%d: status %s, want 206", sp.start, sp.end, resp.Status)
		case resp.Header.Get("Content-Type") != "video/mp4":
			t.Errorf("GET bytes %d-%d: Content-Type %q, want video/mp4", sp.start, sp.end, resp.Header.Get("Content-Type"))
		case !bytes.Equal(got, want[sp.start:sp.end+1]):
			t.Errorf("GET bytes %d-%d: %d bytes that differ from the source file", sp.start, sp.end, len(got))
		}
	}
}
