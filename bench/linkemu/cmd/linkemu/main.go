//go:build linux

// Command linkemu joins two network namespaces with an emulated path: a TUN
// device in each (emu0 in A, emu1 in B, addressed 10.99.0.1/24 and
// 10.99.0.2/24 unless told otherwise), and every packet between them
// delayed, dropped at random and rate-limited as the flags say, the same
// each way. It runs until SIGINT or SIGTERM (or -timeout), then prints the
// packets passed and dropped each way.
//
//	ip netns add a; ip netns add b
//	linkemu -a /run/netns/a -b /run/netns/b -delay 20.5ms -loss 0.005 -rate 100e6 -queue 500000
//
// "ready" on stdout means both devices are up.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/swarmcast/swarmcast/bench/linkemu"
)

func main() {
	nsA := flag.String("a", "", "network namespace `FILE` of side A (/run/netns/NAME)")
	nsB := flag.String("b", "", "network namespace `FILE` of side B")
	addrA := flag.String("addr-a", "10.99.0.1/24", "address of A's device")
	addrB := flag.String("addr-b", "10.99.0.2/24", "address of B's device")
	var s linkemu.Shape
	flag.DurationVar(&s.Delay, "delay", 0, "one-way delay, each way")
	flag.Float64Var(&s.Loss, "loss", 0, "random loss probability (0-1), each way")
	flag.Int64Var(&s.Rate, "rate", 0, "bottleneck rate in bits/s, each way (0: none)")
	flag.IntVar(&s.Queue, "queue", 0, "bottleneck drop-tail queue in bytes (0: 500000)")
	timeout := flag.Duration("timeout", time.Hour, "stop after this long")
	flag.Parse()
	if *nsA == "" || *nsB == "" {
		fmt.Fprintln(os.Stderr, "usage: linkemu -a NSFILE -b NSFILE [-delay D] [-loss P] [-rate BITS] [-queue BYTES]")
		os.Exit(2)
	}
	if err := run(*nsA, *nsB, *addrA, *addrB, s, *timeout); err != nil {
		fmt.Fprintln(os.Stderr, "linkemu:", err)
		os.Exit(1)
	}
}

func run(pathA, pathB, addrA, addrB string, s linkemu.Shape, timeout time.Duration) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	a, err := openSide(pathA, "emu0", addrA)
	if err != nil {
		return err
	}
	b, err := openSide(pathB, "emu1", addrB)
	if err != nil {
		a.Close()
		return err
	}
	fmt.Println("ready")
	var st [2]linkemu.Stats
	err = linkemu.Link(ctx, a, b, s, s, &st)
	for i, dir := range []string{"A->B", "B->A"} {
		fmt.Printf("%s: %d passed, %d lost at random, %d dropped by the queue, %d over the emulator's limit, %d refused by the kernel\n", dir,
			st[i].Passed.Load(), st[i].Lost.Load(), st[i].QueueDrops.Load(), st[i].Overflows.Load(), st[i].Refused.Load())
	}
	if errors.Is(err, context.DeadlineExceeded) {
		err = nil
	}
	return err
}

func openSide(path, dev, addr string) (*os.File, error) {
	ns, err := linkemu.JoinNamespace(path)
	if err != nil {
		return nil, err
	}
	defer ns.Close()
	var f *os.File
	err = ns.Do(func() error {
		var err error
		if f, err = linkemu.OpenTUN(dev); err != nil {
			return err
		}
		return linkemu.Up(dev, addr)
	})
	if err != nil && f != nil {
		f.Close()
		return nil, err
	}
	return f, err
}
