package trackerserver

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"testing"
	"time"
)

// TestSocketMemory measures what an open WebSocket costs the tracker once
// it has announced: the heap and goroutine stacks in use, per socket, with
// 2,000 sockets open. The clients are plain TCP sockets that upgrade by
// hand and send one masked frame, so they add almost nothing to the heap
// measured. bench/tracker/tracker.sh (SOCKETS=...) measures the same in a
// tracker process's RSS, against bittorrent-tracker's.
func TestSocketMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 2,000 sockets")
	}
	ts := startServer(t, Config{MessageRate: -1}, false)
	const n = 2000
	conns := make([]net.Conn, 0, n)
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	open := func(i int) net.Conn {
		c, err := net.Dial("tcp", ts.addr)
		if err != nil {
			t.Fatalf("socket %d: %v", i, err)
		}
		c.SetDeadline(time.Now().Add(testTimeout))
		fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
			"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", ts.addr)
		resp, err := http.ReadResponse(bufio.NewReaderSize(c, 256), nil)
		if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("socket %d: upgrade: %v %v", i, resp, err)
		}
		var id [20]byte
		binary.BigEndian.PutUint32(id[:], uint32(i))
		ih := hash20(byte(i % 10))
		msg := `{"action":"announce","info_hash":` + mustJSON(t, bin(ih[:])) + `,"peer_id":` + mustJSON(t, bin(id[:])) +
			`,"numwant":5,"uploaded":0,"downloaded":0,"left":1,"event":"started","offers":[]}`
		if _, err := c.Write(maskedFrame([]byte(msg))); err != nil {
			t.Fatalf("socket %d: %v", i, err)
		}
		return c
	}
	// A first hundred warms the pools and the server's maps up.
	for i := range 100 {
		conns = append(conns, open(i))
	}
	waitFor(t, "the first announces", func() bool { return ts.Stats().PeersByProtocol.WebSocket == 100 })
	before := heapAndStacks()
	heap0, stacks0 := lastHeap, lastStacks
	for i := 100; i < n; i++ {
		conns = append(conns, open(i))
	}
	waitFor(t, "every announce", func() bool { return ts.Stats().PeersByProtocol.WebSocket == n })
	per := float64(heapAndStacks()-before) / (n - 100)
	t.Logf("an open WebSocket that announced costs %.0f bytes of heap and stacks (heap %.0f, stacks %.0f)", per,
		(float64(lastHeap)-float64(heap0))/(n-100), (float64(lastStacks)-float64(stacks0))/(n-100))
	if per > float64(maxBytesPerSocket) {
		t.Fatalf("an open WebSocket costs %.0f bytes of heap and stacks, more than %d", per, maxBytesPerSocket)
	}
}

// maxBytesPerSocket bounds what TestSocketMemory measures: 35.8 KB before
// the tracker gave coder/websocket net/http's own write buffer instead of a
// second one and took a message's scratch from a pool, 29.7 KB after (of
// which 12 KB were the reader's and the writer's stacks), 18.1-19.7 KB since
// a socket has no writer goroutine, frames its own messages and lets
// net/http's handler return (heap 10 KB, the reader's stack 8), 6.8 KB since
// it reads its own frames too and waits with no buffer (heap 2.7 KB, the
// reader's stack 4; 10.9 KB under the race detector, whose stacks are
// bigger).
var maxBytesPerSocket = map[bool]int{false: 9 << 10, true: 13 << 10}[raceEnabled]

// heapAndStacks is the heap and the goroutine stacks in use, after
// collecting garbage.
func heapAndStacks() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	lastHeap, lastStacks = m.HeapInuse, m.StackInuse
	return m.HeapInuse + m.StackInuse
}

// lastHeap and lastStacks are heapAndStacks's last figures, apart.
var lastHeap, lastStacks uint64
