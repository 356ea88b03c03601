//go:build linux

// Command tcpbulk times one bulk TCP transfer with a chosen congestion
// control, for bench/webrtc-path.sh's TCP rows:
//
//	tcpbulk serve -listen ADDR -size BYTES -cc bbr   # sends BYTES to each connection
//	tcpbulk get -connect ADDR -size BYTES            # prints {"firstByteMs","doneMs"}
//
// The sender's congestion control is what matters; it is set on the
// sender's socket (TCP_CONGESTION), so the namespace's default does not.
// Times are in ms since get started.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	addr := fs.String("listen", "", "serve: listen on `ADDR`")
	conn := fs.String("connect", "", "get: connect to `ADDR`")
	size := fs.Int64("size", 0, "bytes to transfer")
	cc := fs.String("cc", "", "serve: congestion control (bbr, reno, cubic); empty: the system's")
	timeout := fs.Duration("timeout", 10*time.Minute, "give up after this long")
	fs.Parse(os.Args[2:])
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(*addr, *size, *cc, *timeout)
	case "get":
		err = get(*conn, *size, *timeout)
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "tcpbulk:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: tcpbulk serve -listen ADDR -size N [-cc NAME] | tcpbulk get -connect ADDR -size N")
	os.Exit(2)
}

func serve(addr string, size int64, cc string, timeout time.Duration) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	fmt.Println("listening on", ln.Addr())
	deadline := time.Now().Add(timeout)
	ln.(*net.TCPListener).SetDeadline(deadline)
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return nil
			}
			return err
		}
		go send(c, size, cc, deadline)
	}
}

func send(c net.Conn, size int64, cc string, deadline time.Time) {
	defer c.Close()
	c.SetDeadline(deadline)
	if cc != "" {
		raw, err := c.(*net.TCPConn).SyscallConn()
		if err == nil {
			raw.Control(func(fd uintptr) {
				err = syscall.SetsockoptString(int(fd), syscall.IPPROTO_TCP, syscall.TCP_CONGESTION, cc)
			})
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "tcpbulk: congestion control %s: %v\n", cc, err)
			return
		}
	}
	io.CopyN(c, rand.NewChaCha8([32]byte{}), size)
}

func get(addr string, size int64, timeout time.Duration) error {
	start := time.Now()
	ms := func() float64 { return float64(time.Since(start).Microseconds()) / 1000 }
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(start.Add(timeout))
	var res struct {
		FirstByteMs, DoneMs float64
	}
	buf := make([]byte, 256<<10)
	var got int64
	for got < size {
		n, err := c.Read(buf)
		if n > 0 && got == 0 {
			res.FirstByteMs = ms()
		}
		got += int64(n)
		if err != nil {
			if err == io.EOF && got >= size {
				break
			}
			return fmt.Errorf("after %d of %d bytes: %w", got, size, err)
		}
	}
	res.DoneMs = ms()
	return json.NewEncoder(os.Stdout).Encode(res)
}
