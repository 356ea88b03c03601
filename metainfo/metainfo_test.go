package metainfo

import (
	"bytes"
	"crypto/sha1"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/swarmcast/swarmcast/bencode"
)

// buildTorrent encodes a torrent whose info dictionary is given as a Go value.
func buildTorrent(t testing.TB, info any, outer map[string]any) []byte {
	t.Helper()
	ib, err := bencode.Marshal(info)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]any{"info": bencode.RawMessage(ib)}
	for k, v := range outer {
		m[k] = v
	}
	b, err := bencode.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func pieces(n int) []byte { return bytes.Repeat([]byte{0xab}, n*HashSize) }

func TestParseMultiFile(t *testing.T) {
	info := map[string]any{
		"name": "dir", "piece length": 16, "pieces": pieces(3),
		"files": []any{
			map[string]any{"length": 10, "path": []string{"a", "x.txt"}},
			map[string]any{"length": 6, "path": []string{"_____padding_file_0"}, "attr": "p"},
			map[string]any{"length": 0, "path": []string{"empty"}},
			map[string]any{"length": 20, "path": []string{"b.bin"}},
		},
		"private": 1,
	}
	data := buildTorrent(t, info, map[string]any{
		"announce":      "http://a/announce",
		"announce-list": [][]string{{"http://a/announce", "udp://b:1"}, {"wss://c"}},
		"url-list":      "http://seed/",
		"creation date": "not a number", // mistyped optional fields are ignored
		"comment":       "hi",
	})
	mi, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	ib, _ := bencode.Marshal(info)
	if mi.HashInfoBytes() != sha1.Sum(ib) {
		t.Fatal("info hash is not the SHA-1 of the info bytes")
	}
	if got := mi.AnnounceURLs(); !reflect.DeepEqual(got, []string{"http://a/announce", "udp://b:1", "wss://c"}) {
		t.Fatalf("AnnounceURLs = %v", got)
	}
	if got := mi.Tiers(); len(got) != 2 || len(got[0]) != 2 {
		t.Fatalf("Tiers = %v", got)
	}
	if !reflect.DeepEqual(mi.WebSeeds(), []string{"http://seed/"}) || mi.Comment != "hi" {
		t.Fatalf("url-list %v comment %q", mi.URLList, mi.Comment)
	}
	in, err := mi.UnmarshalInfo()
	if err != nil {
		t.Fatal(err)
	}
	if !in.Private || in.TotalLength() != 36 || in.NumPieces() != 3 || in.PieceSize(2) != 4 || in.PieceSize(0) != 16 {
		t.Fatalf("info: private %v total %d pieces %d last %d", in.Private, in.TotalLength(), in.NumPieces(), in.PieceSize(2))
	}
	files := in.FileList()
	wantOff := []int64{0, 10, 16, 16}
	for i, f := range files {
		if f.Offset != wantOff[i] {
			t.Errorf("file %d offset %d, want %d", i, f.Offset, wantOff[i])
		}
	}
	if !files[1].IsPadding() || files[0].IsPadding() {
		t.Error("padding file not recognised")
	}
	for i, want := range [][2]int{{0, 1}, {0, 1}, {1, 1}, {1, 3}} {
		if a, b := in.FilePieces(files[i]); a != want[0] || b != want[1] {
			t.Errorf("FilePieces(%d) = %d,%d want %v", i, a, b, want)
		}
	}
}

func TestParseSingleFileAndUTF8(t *testing.T) {
	data := buildTorrent(t, map[string]any{
		"name": "bad\xff", "name.utf-8": "good.mkv", "piece length": 32768, "pieces": pieces(1), "length": 5,
	}, map[string]any{"url-list": []string{"http://a/", "http://a/", "http://b/"}})
	mi, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	in, err := mi.UnmarshalInfo()
	if err != nil {
		t.Fatal(err)
	}
	if in.BestName() != "good.mkv" || in.IsDir() || in.FileList()[0].Path[0] != "good.mkv" {
		t.Fatalf("name %q files %v", in.BestName(), in.FileList())
	}
	if !reflect.DeepEqual(mi.WebSeeds(), []string{"http://a/", "http://b/"}) {
		t.Fatalf("web seeds %v", mi.WebSeeds())
	}
}

func TestUnsafePaths(t *testing.T) {
	for _, path := range [][]string{
		{"..", "x"}, {"a", "..", "..", "x"}, {"."}, {""}, {"a/../../x"}, {`..\x`}, {"a\x00b"}, {"/etc/passwd"}, {"C:evil"}, {},
	} {
		info := map[string]any{"name": "t", "piece length": 16, "pieces": pieces(1),
			"files": []any{map[string]any{"length": 1, "path": path}}}
		mi, err := Parse(buildTorrent(t, info, nil))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := mi.UnmarshalInfo(); !errors.Is(err, ErrUnsafePath) {
			t.Errorf("path %q: got %v, want ErrUnsafePath", path, err)
		}
	}
	for _, name := range []string{"..", "", "a/b", "."} {
		info := map[string]any{"name": name, "piece length": 16, "pieces": pieces(1), "length": 1}
		mi, _ := Parse(buildTorrent(t, info, nil))
		if _, err := mi.UnmarshalInfo(); !errors.Is(err, ErrUnsafePath) {
			t.Errorf("name %q: got %v, want ErrUnsafePath", name, err)
		}
	}
	// A path that is both a file and a folder, and a path used twice.
	for _, files := range [][][]string{{{"a"}, {"a", "b"}}, {{"a", "b"}, {"a"}}, {{"x"}, {"x"}}} {
		var l []any
		for _, p := range files {
			l = append(l, map[string]any{"length": 1, "path": p})
		}
		info := map[string]any{"name": "t", "piece length": 16, "pieces": pieces(1), "files": l}
		mi, _ := Parse(buildTorrent(t, info, nil))
		if _, err := mi.UnmarshalInfo(); !errors.Is(err, ErrUnsafePath) {
			t.Errorf("files %q: got %v, want ErrUnsafePath", files, err)
		}
	}
}

func TestInvalidInfo(t *testing.T) {
	tests := []struct {
		name string
		info map[string]any
		want string
	}{
		{"zero piece length", map[string]any{"name": "a", "piece length": 0, "pieces": pieces(1), "length": 1}, "piece length"},
		{"pieces not multiple of 20", map[string]any{"name": "a", "piece length": 16, "pieces": []byte("abc"), "length": 1}, "multiple"},
		{"too few pieces", map[string]any{"name": "a", "piece length": 16, "pieces": pieces(1), "length": 17}, "piece hashes"},
		{"too many pieces", map[string]any{"name": "a", "piece length": 16, "pieces": pieces(3), "length": 17}, "piece hashes"},
		{"negative length", map[string]any{"name": "a", "piece length": 16, "pieces": pieces(0), "length": -1}, "negative"},
		{"both length and files", map[string]any{"name": "a", "piece length": 16, "pieces": pieces(1), "length": 1,
			"files": []any{map[string]any{"length": 1, "path": []string{"x"}}}}, "both"},
		{"v2 only", map[string]any{"name": "a", "piece length": 16, "meta version": 2, "file tree": map[string]any{}}, "v2-only"},
		{"name is a list", map[string]any{"name": []string{"a"}, "piece length": 16, "pieces": pieces(1), "length": 1}, "cannot unmarshal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mi, err := Parse(buildTorrent(t, tt.info, nil))
			if err == nil {
				_, err = mi.UnmarshalInfo()
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
	for _, data := range []string{"", "i1e", "de", "d4:infoi1ee", "d4:info"} {
		if _, err := Parse([]byte(data)); err == nil {
			t.Errorf("Parse(%q) succeeded", data)
		}
	}
}

func TestHybridLoadsAsV1(t *testing.T) {
	info := map[string]any{"name": "a", "piece length": 16, "pieces": pieces(1), "length": 1, "meta version": 2,
		"file tree": map[string]any{"a": map[string]any{"": map[string]any{"length": 1}}}}
	mi, err := Parse(buildTorrent(t, info, nil))
	if err != nil {
		t.Fatal(err)
	}
	in, err := mi.UnmarshalInfo()
	if err != nil || !in.IsHybrid() {
		t.Fatalf("hybrid: %v %v", in, err)
	}
}

func TestCreate(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "content")
	files := map[string][]byte{
		"b.bin":          bytes.Repeat([]byte("b"), 40000),
		"a/z.txt":        []byte("hello"),
		"a/a.txt":        bytes.Repeat([]byte("x"), 16385),
		"a/sub/empty":    nil,
		"c with space.m": bytes.Repeat([]byte{1, 2, 3}, 9999),
	}
	var concat []byte
	for _, name := range []string{"a/a.txt", "a/sub/empty", "a/z.txt", "b.bin", "c with space.m"} {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, files[name], 0o644); err != nil {
			t.Fatal(err)
		}
		concat = append(concat, files[name]...)
	}
	var lastDone int64
	opt := CreateOptions{Trackers: []string{"http://t/announce", "wss://w"}, WebSeeds: []string{"http://s/"}, NoDate: true,
		Progress: func(done, total int64) { lastDone = done }}
	mi, info, err := Create(root, opt)
	if err != nil {
		t.Fatal(err)
	}
	if lastDone != int64(len(concat)) {
		t.Errorf("progress ended at %d of %d", lastDone, len(concat))
	}
	if info.Name != "content" || info.PieceLength != MinAutoPieceLength || info.TotalLength() != int64(len(concat)) {
		t.Fatalf("name %q piece length %d total %d", info.Name, info.PieceLength, info.TotalLength())
	}
	var paths []string
	for _, f := range info.FileList() {
		paths = append(paths, f.DisplayPath())
	}
	if want := []string{"a/a.txt", "a/sub/empty", "a/z.txt", "b.bin", "c with space.m"}; !reflect.DeepEqual(paths, want) {
		t.Fatalf("file order %v, want %v", paths, want)
	}
	for i := 0; i < info.NumPieces(); i++ {
		end := min(int64(i+1)*info.PieceLength, int64(len(concat)))
		if sha1.Sum(concat[int64(i)*info.PieceLength:end]) != info.PieceHash(i) {
			t.Fatalf("piece %d hash is wrong", i)
		}
	}
	// Round trip through a file, and the same input gives the same torrent.
	var buf bytes.Buffer
	if err := mi.Write(&buf); err != nil {
		t.Fatal(err)
	}
	back, err := Load(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if back.HashInfoBytes() != mi.HashInfoBytes() || !reflect.DeepEqual(back.AnnounceURLs(), opt.Trackers) || back.Announce != "http://t/announce" {
		t.Fatalf("round trip: %+v", back)
	}
	opt.Workers = 1
	again, _, err := Create(root, opt)
	if err != nil || again.HashInfoBytes() != mi.HashInfoBytes() {
		t.Fatalf("not deterministic: %v", err)
	}

	single, sinfo, err := Create(filepath.Join(root, "b.bin"), CreateOptions{PieceLength: 32768, Private: true})
	if err != nil {
		t.Fatal(err)
	}
	if sinfo.IsDir() || sinfo.Length != 40000 || !sinfo.Private || single.CreationDate == 0 || sinfo.NumPieces() != 2 {
		t.Fatalf("single file: %+v", sinfo)
	}
	if _, _, err := Create(filepath.Join(dir, "missing"), CreateOptions{}); err == nil {
		t.Fatal("Create of a missing path succeeded")
	}
	emptyDir := filepath.Join(dir, "nothing")
	os.Mkdir(emptyDir, 0o755)
	if _, _, err := Create(emptyDir, CreateOptions{}); err == nil {
		t.Fatal("Create of an empty folder succeeded")
	}
}

func TestAutoPieceLength(t *testing.T) {
	for _, tt := range []struct{ total, want int64 }{
		{0, 16 << 10}, {1 << 20, 16 << 10}, {2000 * 16 << 10, 16 << 10}, {2000*16<<10 + 1, 32 << 10},
		{1 << 30, 1 << 20}, {4 << 30, 4 << 20}, {1 << 40, 16 << 20},
	} {
		got := AutoPieceLength(tt.total)
		if got != tt.want {
			t.Errorf("AutoPieceLength(%d) = %d, want %d", tt.total, got, tt.want)
		}
		if n := tt.total / got; tt.total > 64<<20 && tt.total < 32<<30 && (n < 1000 || n > 2000) {
			t.Errorf("AutoPieceLength(%d) gives %d pieces", tt.total, n)
		}
	}
}

// A file that shrinks while it is hashed gives an error, not a crash or a
// torrent of wrong hashes.
func TestCreateFileShrinks(t *testing.T) {
	p := filepath.Join(t.TempDir(), "shrinks.bin")
	if err := os.WriteFile(p, bytes.Repeat([]byte{7}, 8<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	once := false
	_, _, err := Create(p, CreateOptions{PieceLength: 16 << 10, Progress: func(done, total int64) {
		if !once {
			once = true
			os.Truncate(p, 1<<20)
		}
	}})
	if err == nil {
		t.Fatal("Create succeeded on a file that shrank")
	}
	t.Log(err)
}
