package interop

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/swarmcast/swarmcast/internal/testenv"
)

// The swarmcast binary under test: TestMain makes a temporary directory for it, and the first test that
// needs it builds it there, once.
var (
	binDir            string
	buildOnce         sync.Once
	swarmcastBinPath  string
	swarmcastBuildErr error
)

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "swarmcast-interop-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "interop:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	binDir = dir
	return m.Run()
}

// buildSwarmcast builds cmd/swarmcast into dir (or takes SWARMCAST_BIN). It also stats every source
// file of the module: the go command caches a test's result keyed on the files the test process itself
// opened or statted while its tests ran, so without that a change to swarmcast's code would not
// invalidate a cached pass of these tests. (Hence this runs from a test, not before m.Run, when file
// accesses are not yet logged.)
func buildSwarmcast(dir string) (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	statSources(root)
	if bin := os.Getenv("SWARMCAST_BIN"); bin != "" {
		return bin, nil
	}
	bin := filepath.Join(dir, "swarmcast")
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, swarmcastPackage)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", swarmcastPackage, err, out)
	}
	return bin, nil
}

// moduleRoot finds the directory holding go.mod, from the package directory (the tests' working dir).
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("interop: no go.mod above the package directory")
		}
		dir = parent
	}
}

func statSources(root string) {
	_ = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() {
			switch d.Name() {
			case "node_modules", ".git", "testdata":
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(path, ".go") || d.Name() == "go.mod" || d.Name() == "go.sum" {
			_, _ = os.Stat(path)
		}
		return nil
	})
}

// strict reports whether a missing tool must fail the test rather than skip it.
func strict() bool {
	return os.Getenv("SWARMCAST_INTEROP") == "1" || testenv.CI()
}

// missing fails the test in strict mode and skips it otherwise.
func missing(t testing.TB, what string) {
	t.Helper()
	if strict() {
		t.Fatalf("%s is missing (CI or SWARMCAST_INTEROP=1 is set, so this fails): %s", what, installHint)
	}
	t.Skipf("%s is missing: %s", what, installHint)
}

// requireTool returns the path of the program name, or skips or fails the test when it is not installed.
func requireTool(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		missing(t, fmt.Sprintf("program %q", name))
	}
	return path
}

// requireNodeModule checks that node runs and that the npm package name is installed in
// interop/node_modules, or skips or fails the test.
func requireNodeModule(t testing.TB, name string) {
	t.Helper()
	requireTool(t, "node")
	if _, err := os.Stat(filepath.Join("node_modules", name, "package.json")); err != nil {
		missing(t, fmt.Sprintf("npm package %q in interop/node_modules", name))
	}
}

// swarmcastBin returns the swarmcast binary under test; the test fails when it could not be built.
func swarmcastBin(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() { swarmcastBinPath, swarmcastBuildErr = buildSwarmcast(binDir) })
	if swarmcastBuildErr != nil {
		t.Fatalf("the swarmcast CLI could not be built: %v", swarmcastBuildErr)
	}
	return swarmcastBinPath
}

// result is what one run of an external program left behind.
type result struct {
	stdout, stderr []byte
	err            error
}

// message is a one-line summary of a failed run, for test output.
func (r result) message() string {
	msg := strings.TrimSpace(string(r.stderr))
	if msg == "" {
		msg = strings.TrimSpace(string(r.stdout))
	}
	if r.err != nil {
		msg = fmt.Sprintf("%v: %s", r.err, msg)
	}
	return msg
}

// run runs name with args in dir ("" for the package dir) under toolTimeout, in a process group of
// its own.
func run(t testing.TB, dir, name string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), toolTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Stdin = nil
	// On timeout the program goes with everything it started (see startBG).
	inOwnGroup(cmd)
	cmd.Cancel = func() error {
		killGroup(cmd)
		return nil
	}
	cmd.WaitDelay = bgStopGrace
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if cmd.Process != nil {
		killGroup(cmd)
	}
	if ctx.Err() != nil {
		err = fmt.Errorf("%s timed out after %v: %w", name, toolTimeout, err)
	}
	return result{stdout: stdout.Bytes(), stderr: stderr.Bytes(), err: err}
}

// runSwarmcast runs the swarmcast CLI.
func runSwarmcast(t testing.TB, dir string, args ...string) result {
	t.Helper()
	return run(t, dir, swarmcastBin(t), args...)
}

// parseTorrentOutput is what node/parse.mjs prints.
type parseTorrentOutput struct {
	ParseTorrentVersion string      `json:"parseTorrentVersion"`
	FixturesDir         string      `json:"fixturesDir"`
	FixturesModuleError string      `json:"fixturesModuleError"`
	Torrents            []ptTorrent `json:"torrents"`
	Magnets             []ptMagnet  `json:"magnets"`
}

// fileEntry is one file of a torrent, as parse-torrent and `swarmcast info --json` both describe it.
type fileEntry struct {
	Path   string `json:"path"`
	Name   string `json:"name"`
	Length int64  `json:"length"`
	Offset int64  `json:"offset"`
}

// ptTorrent is parse-torrent's view of one .torrent file.
type ptTorrent struct {
	Source      string      `json:"source"`
	OK          bool        `json:"ok"`
	Error       string      `json:"error"`
	InfoHash    string      `json:"infoHash"`
	Name        string      `json:"name"`
	Length      int64       `json:"length"`
	PieceLength int64       `json:"pieceLength"`
	PieceCount  int         `json:"pieceCount"`
	Private     bool        `json:"private"`
	Files       []fileEntry `json:"files"`
	Announce    []string    `json:"announce"`
	URLList     []string    `json:"urlList"`
	Pieces      []string    `json:"pieces"`

	LastPieceLength int64      `json:"lastPieceLength"`
	Raw             rawTorrent `json:"raw"`
}

// rawTorrent holds facts parse.mjs read from the bencoded torrent itself.
type rawTorrent struct {
	DecodeError      string    `json:"decodeError"`
	TopKeys          []string  `json:"topKeys"`
	InfoKeys         []string  `json:"infoKeys"`
	Name             *string   `json:"name"`
	NameUTF8         *string   `json:"nameUtf8"`
	MultiFile        bool      `json:"multiFile"`
	AnnounceType     string    `json:"announceType"`
	AnnounceListType string    `json:"announceListType"`
	URLListType      string    `json:"urlListType"`
	PrivateValue     *int      `json:"privateValue"`
	Files            []rawFile `json:"files"`
}

// rawFile is one entry of info.files as bencoded (path.utf-8 preferred, as parse-torrent does).
type rawFile struct {
	Path        []string `json:"path"`
	HasPathUTF8 bool     `json:"hasPathUtf8"`
	Attr        string   `json:"attr"`
	Length      *int64   `json:"length"`
}

// ptMagnet is parse-torrent's view of one magnet URI.
type ptMagnet struct {
	Source   string   `json:"source"`
	URI      string   `json:"uri"`
	OK       bool     `json:"ok"`
	Error    string   `json:"error"`
	InfoHash string   `json:"infoHash"`
	Name     string   `json:"name"`
	Announce []string `json:"announce"`
	URLList  []string `json:"urlList"`
	Select   []int    `json:"select"`
}

// parseTorrent runs node/parse.mjs (the real parse-torrent) with args.
func parseTorrent(t testing.TB, args ...string) *parseTorrentOutput {
	t.Helper()
	requireNodeModule(t, "parse-torrent")
	requireNodeModule(t, "webtorrent-fixtures")
	r := run(t, "", "node", append([]string{filepath.Join("node", "parse.mjs")}, args...)...)
	if r.err != nil {
		t.Fatalf("node node/parse.mjs %s: %s", strings.Join(args, " "), r.message())
	}
	var out parseTorrentOutput
	if err := json.Unmarshal(r.stdout, &out); err != nil {
		t.Fatalf("node node/parse.mjs printed no JSON: %v\n%s", err, r.stdout)
	}
	return &out
}

// swarmcastInfo is what `swarmcast info --json` prints, for a torrent or a magnet.
type swarmcastInfo struct {
	InfoHash    string          `json:"infoHash"`
	Name        string          `json:"name"`
	Length      int64           `json:"length"`
	PieceLength int64           `json:"pieceLength"`
	PieceCount  int             `json:"pieceCount"`
	Private     bool            `json:"private"`
	Files       []fileEntry     `json:"files"`
	Announce    []string        `json:"announce"`
	URLList     []string        `json:"urlList"`
	Select      json.RawMessage `json:"select"`
	// Not in the contract: checked when present.
	LastPieceLength int64  `json:"lastPieceLength"`
	MagnetURI       string `json:"magnetURI"`

	keys map[string]bool // the keys present in the JSON object
}

// info runs `swarmcast info --json arg`. ok is false when swarmcast refused the input (non-zero exit);
// then r says why. A zero exit with output that is not one JSON object fails the test.
func info(t testing.TB, arg string) (si *swarmcastInfo, r result, ok bool) {
	t.Helper()
	r = runSwarmcast(t, "", "info", "--json", arg)
	if r.err != nil {
		return nil, r, false
	}
	si = new(swarmcastInfo)
	dec := json.NewDecoder(bytes.NewReader(r.stdout))
	if err := dec.Decode(si); err != nil {
		t.Fatalf("swarmcast info --json %s: output is not a JSON object: %v\n%s", arg, err, r.stdout)
	}
	if dec.More() {
		t.Errorf("swarmcast info --json %s: printed more than one JSON value:\n%s", arg, r.stdout)
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(r.stdout, &keys); err == nil {
		si.keys = make(map[string]bool, len(keys))
		for k := range keys {
			si.keys[k] = true
		}
	}
	return si, r, true
}

// requireKeys reports contract keys missing from swarmcast's JSON.
func (si *swarmcastInfo) requireKeys(t testing.TB, what string, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if !si.keys[k] {
			t.Errorf("%s: swarmcast info --json has no %q field (contract)", what, k)
		}
	}
}

// selection decodes swarmcast's "select" field: a list of file indices, accepting also BEP 53 range
// strings ("2-4") in the list.
func (si *swarmcastInfo) selection() ([]int, error) {
	if len(si.Select) == 0 || string(si.Select) == "null" {
		return nil, nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(si.Select, &items); err != nil {
		return nil, fmt.Errorf("select is not a list: %s", si.Select)
	}
	var out []int
	for _, it := range items {
		var n int
		if err := json.Unmarshal(it, &n); err == nil {
			out = append(out, n)
			continue
		}
		var s string
		if err := json.Unmarshal(it, &s); err != nil {
			return nil, fmt.Errorf("select item %s is neither a number nor a range", it)
		}
		var lo, hi int
		if _, err := fmt.Sscanf(s, "%d-%d", &lo, &hi); err != nil {
			if _, err := fmt.Sscanf(s, "%d", &lo); err != nil {
				return nil, fmt.Errorf("select item %q is neither a number nor a range", s)
			}
			hi = lo
		}
		for i := lo; i <= hi; i++ {
			out = append(out, i)
		}
	}
	return out, nil
}
