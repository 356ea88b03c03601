package daemon

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/swarmcast/swarmcast/bencode"
	"github.com/swarmcast/swarmcast/storage"
	"github.com/swarmcast/swarmcast/torrent"
)

// BenchmarkTorrentGet500 answers torrent-get with transmission-remote -l's
// fields for 500 idle torrents, as bench/daemon-load.sh asks 200 times a
// second: the daemon's CPU per request, without HTTP.
func BenchmarkTorrentGet500(b *testing.B) {
	dir := b.TempDir()
	dl := filepath.Join(dir, "downloads")
	c := torrent.NewClient(torrent.Config{Storage: storage.NewFile(dl)})
	defer c.Close()
	d, err := New(Config{Client: c, DataDir: dir, DownloadDir: dl})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	for i := 0; i < 500; i++ {
		pieces := make([]byte, 64*20)
		rand.Read(pieces)
		mi, _ := bencode.Marshal(map[string]any{"info": map[string]any{"name": fmt.Sprintf("load-%04d.bin", i),
			"length": int64(1 << 20), "piece length": int64(16 << 10), "pieces": pieces}})
		r := d.Call(context.Background(), mustMarshal(map[string]any{"method": "torrent-add",
			"arguments": map[string]any{"metainfo": base64.StdEncoding.EncodeToString(mi)}}))
		if r.Result != "success" {
			b.Fatal(r.Result)
		}
	}
	req := []byte(`{"method":"torrent-get","arguments":{"fields":["error","errorString","eta","id","isFinished","leftUntilDone","name","peersGettingFromUs","peersSendingToUs","rateDownload","rateUpload","sizeWhenDone","status","uploadRatio"]}}`)
	var n int
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		n = len(d.Call(context.Background(), req).appendJSON(nil))
	}
	b.ReportMetric(float64(n), "bytes/answer")
}
