package swarmcast_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/swarmcast/swarmcast"
	"github.com/swarmcast/swarmcast/metainfo"
	"github.com/swarmcast/swarmcast/torrent"
	"github.com/swarmcast/swarmcast/trackerserver"
)

// Seed a folder from where it is and print its magnet link. The same
// content always gives the same link.
func ExampleClient_Seed() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	os.MkdirAll(filepath.Join(dir, "holiday", "day1"), 0o755)
	os.WriteFile(filepath.Join(dir, "holiday", "day1", "beach.txt"), []byte("sand and sea\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "holiday", "notes.txt"), []byte("bring a hat\n"), 0o644)

	// On loopback, as examples and tests should be; a real seeder would
	// leave ListenAddr empty (port 6881, DHT and LSD on).
	c, err := swarmcast.NewClient(swarmcast.Config{ListenAddr: "127.0.0.1:0"})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	t, mi, err := c.Seed(filepath.Join(dir, "holiday"), metainfo.CreateOptions{
		Trackers: []string{"wss://tracker.example/announce"},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(t.Name(), len(t.Files()), "files, complete:", t.Complete())
	fmt.Println(mi.Magnet(t.Info()))
	// Output:
	// holiday 2 files, complete: true
	// magnet:?xt=urn:btih:c0e544187c5200fe3411e87bf53faf1a0fb8639c&dn=holiday&tr=wss://tracker.example/announce
}

// Add a magnet link and stream one of its files over HTTP while it
// downloads: http.ServeContent answers Range requests from a torrent
// Reader, which asks the swarm for the pieces under the requested range
// first, so a player can start, and seek, at once.
func Example_stream() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	video := bytes.Repeat([]byte("0123456789"), 400_000) // 4 MB
	os.WriteFile(filepath.Join(dir, "film.mp4"), video, 0o644)

	// A seeder, standing for the swarm.
	seeder, err := swarmcast.NewClient(swarmcast.Config{ListenAddr: "127.0.0.1:0"})
	if err != nil {
		log.Fatal(err)
	}
	defer seeder.Close()
	st, mi, err := seeder.Seed(filepath.Join(dir, "film.mp4"), metainfo.CreateOptions{})
	if err != nil {
		log.Fatal(err)
	}
	magnet := mi.Magnet(st.Info()).String()

	// The viewer: a magnet link and the seeder's address.
	c, err := swarmcast.NewClient(swarmcast.Config{DataDir: filepath.Join(dir, "viewer"), ListenAddr: "127.0.0.1:0"})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	t, err := c.AddMagnet(magnet, torrent.AddOptions{Peers: []string{seeder.Addr()}})
	if err != nil {
		log.Fatal(err)
	}
	select {
	case <-t.GotInfo(): // the metadata came from the seeder
	case <-time.After(time.Minute):
		log.Fatal("no metadata in a minute: ", t.Stats().Warnings)
	}
	file := t.Files()[0]

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rd := file.NewReader()
		defer rd.Close()
		rd.SetContext(r.Context()) // a player that goes away stops the read
		http.ServeContent(w, r, file.Path(), time.Time{}, rd)
	}))
	defer srv.Close()

	// A seek far into the file, as a player does.
	req, _ := http.NewRequest("GET", srv.URL+"/film.mp4", nil)
	req.Header.Set("Range", "bytes=3500000-3500019")
	resp, err := (&http.Client{Timeout: time.Minute}).Do(req)
	if err != nil {
		log.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.Status, resp.Header.Get("Content-Range"))
	fmt.Printf("%s\n", body)
	// Output:
	// 206 Partial Content bytes 3500000-3500019/4000000
	// 01234567890123456789
}

// Watch a download's progress and count its bytes by where they came
// from. Here the only source is an HTTP origin named in the torrent as a
// web seed (BEP 19); peers over TCP and WebRTC are counted as "tcp" and
// "webrtc" beside it.
func Example_progress() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	os.MkdirAll(filepath.Join(dir, "origin"), 0o755)
	data := bytes.Repeat([]byte("progress "), 300_000) // 2.7 MB
	os.WriteFile(filepath.Join(dir, "origin", "big.bin"), data, 0o644)
	origin := httptest.NewServer(http.FileServer(http.Dir(filepath.Join(dir, "origin"))))
	defer origin.Close()
	mi, _, err := metainfo.Create(filepath.Join(dir, "origin", "big.bin"), metainfo.CreateOptions{
		WebSeeds: []string{origin.URL + "/"},
	})
	if err != nil {
		log.Fatal(err)
	}

	c, err := swarmcast.NewClient(swarmcast.Config{DataDir: filepath.Join(dir, "download"), ListenAddr: "127.0.0.1:0"})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	t, err := c.AddTorrent(mi, torrent.AddOptions{})
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	halfway := false
	for {
		s := t.Stats()
		// A program would show s.BytesLeft, s.DownloadRate and s.Peers here.
		if !halfway && s.BytesLeft <= s.BytesWanted/2 {
			fmt.Println("half way")
			halfway = true
		}
		if s.Complete {
			break
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			log.Fatal("not complete in a minute: ", s.Warnings)
		}
	}
	s := t.Stats()
	fmt.Println("complete:", s.BytesWanted, "bytes")
	fmt.Println("from:", slices.Sorted(maps.Keys(s.Downloaded)))
	// Output:
	// half way
	// complete: 2700000 bytes
	// from: [webseed]
}

// A whole swarm in one program: a tracker, a seeder and three viewers that
// find each other through the tracker, and trade pieces among themselves
// as well as with the seeder.
func Example_swarm() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	data := []byte(strings.Repeat("a swarm of bees ", 200_000)) // 3.2 MB
	os.WriteFile(filepath.Join(dir, "bees.bin"), data, 0o644)

	// The tracker speaks HTTP and, on the same port, WebTorrent's
	// WebSocket protocol.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	tracker := trackerserver.New(trackerserver.Config{})
	go tracker.Serve(ln)
	defer tracker.Shutdown(context.Background())
	announce := "http://" + ln.Addr().String() + "/announce"

	// Every client announces to the tracker (Config.Trackers), for every
	// torrent it has.
	newClient := func(name string) *swarmcast.Client {
		c, err := swarmcast.NewClient(swarmcast.Config{
			DataDir:    filepath.Join(dir, name),
			ListenAddr: "127.0.0.1:0",
			Trackers:   []string{announce},
		})
		if err != nil {
			log.Fatal(err)
		}
		return c
	}
	seeder := newClient("seeder")
	defer seeder.Close()
	st, _, err := seeder.Seed(filepath.Join(dir, "bees.bin"), metainfo.CreateOptions{PieceLength: 64 << 10})
	if err != nil {
		log.Fatal(err)
	}
	magnet := "magnet:?xt=urn:btih:" + st.InfoHash().String() // no name, no tracker, no peer

	// A seed waits for leechers to come to it rather than dialling the
	// addresses trackers hand out, so viewers that announced before it
	// would hear of it only at their next announce: here the viewers come
	// once the tracker knows the seeder.
	for wait := time.Now(); tracker.Stats().Seeders == 0; time.Sleep(10 * time.Millisecond) {
		if time.Since(wait) > time.Minute {
			log.Fatal("the seeder did not announce in a minute")
		}
	}

	var viewers []*torrent.Torrent
	for i := 1; i <= 3; i++ {
		c := newClient(fmt.Sprint("viewer", i))
		defer c.Close()
		t, err := c.AddMagnet(magnet, torrent.AddOptions{})
		if err != nil {
			log.Fatal(err)
		}
		viewers = append(viewers, t)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i, t := range viewers {
		name := fmt.Sprint("viewer", i+1)
		if err := t.WaitComplete(ctx); err != nil {
			log.Fatal(name, ": ", err)
		}
		got, _ := os.ReadFile(filepath.Join(dir, name, "bees.bin"))
		fmt.Println(name, "has", t.Name()+":", bytes.Equal(got, data))
	}
	// Output:
	// viewer1 has bees.bin: true
	// viewer2 has bees.bin: true
	// viewer3 has bees.bin: true
}
