package interop

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// daemonUITimeout bounds each step of browser/daemonui.mjs (Chromium's start, the add, 100%, the
// player's first frame): each takes seconds here, more on a loaded machine.
const daemonUITimeout = 90 * time.Second

var daemonUIResultRE = regexp.MustCompile(`^\{.*"step"`)

// The web UI of swarmcast serve in headless Chromium: a magnet added through the form is listed and
// reaches 100%, and a file's play button opens the player page, which shows a frame of the video. The
// screenshots (list, detail, player, phone) are kept in $SWARMCAST_SCREENSHOTS when it is set.
func TestDaemonUIBrowser(t *testing.T) {
	ffmpeg := requireTool(t, "ffmpeg")
	chromium := requireTool(t, "chromium")
	requireNodeModule(t, "playwright-core")
	work := t.TempDir()
	video := filepath.Join(work, "clip", "clip.mp4")
	os.MkdirAll(filepath.Dir(video), 0o755)
	streamFFmpeg(t, ffmpeg, "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25:duration=4",
		"-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-movflags", "+faststart", video)
	os.WriteFile(filepath.Join(work, "clip", "notes.txt"), []byte("not a video\n"), 0o644)
	seeder := startSwarmcastSeed(t, bgOpts{}, "127.0.0.1:0", filepath.Join(work, "clip"))
	_, hp := startServe(t, filepath.Join(work, "daemon"), "--peer", seeder.addr)

	shots := filepath.Join(work, "shots")
	os.MkdirAll(shots, 0o755)
	ui := startBG(t, "daemonui.mjs", bgOpts{timeout: 5 * daemonUITimeout}, "node", filepath.Join("browser", "daemonui.mjs"),
		"http://"+hp, seeder.magnet, seeder.infoHash, "--shots", shots, "--chromium", chromium,
		"--timeout", fmt.Sprint(int(daemonUITimeout/time.Second)))
	waitErr := ui.wait(5 * daemonUITimeout)
	lines := ui.grep(daemonUIResultRE)
	if len(lines) == 0 {
		t.Fatalf("daemonui.mjs printed no result (%v)", waitErr)
	}
	var res struct {
		OK            bool     `json:"ok"`
		Step          string   `json:"step"`
		Error         string   `json:"error"`
		ListedMs      int      `json:"listedMs"`
		CompleteMs    int      `json:"completeMs"`
		PlayerURL     string   `json:"playerUrl"`
		PhoneOverflow int      `json:"phoneOverflow"`
		External      []string `json:"external"`
		Console       []string `json:"console"`
		Video         struct {
			Width, Height int
			Duration      float64
			Src           string
		} `json:"video"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil {
		t.Fatalf("daemonui.mjs result: %v: %s", err, lines[len(lines)-1])
	}
	for _, name := range []string{"list.png", "detail.png", "player.png", "phone.png"} {
		keepDaemonShot(t, filepath.Join(shots, name))
	}
	if !res.OK {
		t.Fatalf("the UI failed at step %q: %s\nconsole: %s", res.Step, res.Error, strings.Join(res.Console, "\n"))
	}
	t.Logf("listed %d ms after Add, 100%% after %d ms; player %s shows %dx%d, %.1f s, from %s",
		res.ListedMs, res.CompleteMs, res.PlayerURL, res.Video.Width, res.Video.Height, res.Video.Duration, res.Video.Src)
	if res.Video.Width != 320 || res.Video.Height != 240 || !strings.Contains(res.Video.Src, "/webtorrent/"+seeder.infoHash+"/") {
		t.Errorf("the player shows %+v, want the 320x240 clip from its stream URL", res.Video)
	}
	if len(res.External) > 0 {
		t.Errorf("the UI asked other hosts for %v", res.External)
	}
	if res.PhoneOverflow > 0 {
		t.Errorf("on a 390 px wide screen the page is %d px too wide", res.PhoneOverflow)
	}
}

// keepDaemonShot logs a screenshot's size and copies it to $SWARMCAST_SCREENSHOTS when set.
func keepDaemonShot(t *testing.T, shot string) {
	t.Helper()
	st, err := os.Stat(shot)
	if err != nil {
		t.Errorf("no screenshot %s: %v", filepath.Base(shot), err)
		return
	}
	t.Logf("screenshot %s: %d bytes", filepath.Base(shot), st.Size())
	keep := os.Getenv("SWARMCAST_SCREENSHOTS")
	if keep == "" {
		return
	}
	b, err := os.ReadFile(shot)
	if err == nil {
		err = os.MkdirAll(keep, 0o755)
	}
	if err == nil {
		err = os.WriteFile(filepath.Join(keep, "TestDaemonUIBrowser-"+filepath.Base(shot)), b, 0o644)
	}
	if err != nil {
		t.Errorf("keeping the screenshot: %v", err)
	}
}
