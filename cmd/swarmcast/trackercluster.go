package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"syscall"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/swarmcast/swarmcast/trackerserver"
)

// Timings of the tracker's NATS connection.
const (
	// natsReconnectWait: reconnect attempts every quarter second (with
	// jitter), so that after a NATS restart the cluster is whole again
	// within about a heartbeat, and forever (MaxReconnects -1).
	natsReconnectWait = 250 * time.Millisecond
	// natsConnectTimeout bounds the first connection.
	natsConnectTimeout = 5 * time.Second
	// embeddedTakeoverEvery is how often an instance that uses another
	// process's embedded NATS server, and has lost it, tries to start one in
	// its place on the same address.
	embeddedTakeoverEvery = 500 * time.Millisecond
)

// DefaultNATSEmbeddedAddr is where --nats-embedded serves NATS: loopback,
// NATS's own port.
const defaultNATSEmbeddedAddr = "127.0.0.1:4222"

// trackerCluster is the tracker's NATS side: a connection, and with
// --nats-embedded perhaps the server too.
type trackerCluster struct {
	nc   *nats.Conn
	addr string // --nats-embedded: the address the server is served on
	log  *slog.Logger

	mu  sync.Mutex
	srv *natsserver.Server // the embedded server, when this process runs it

	stop chan struct{}
	wg   sync.WaitGroup
}

// clusterConfig is the cluster's settings from the tracker command's flags:
// --nats-near-picks 0 is "none preferred", which ClusterConfig says below
// zero (its zero is the default).
func clusterConfig(flushDelay time.Duration, nearPicks float64) trackerserver.ClusterConfig {
	if nearPicks == 0 {
		nearPicks = -1
	}
	return trackerserver.ClusterConfig{FlushDelay: flushDelay, NearPicks: nearPicks}
}

// joinTrackerCluster connects to NATS (urls, comma-separated, as nats.go
// takes them) or, with embedded, serves NATS on embeddedAddr, or uses the
// server another tracker of this host already serves there; then s joins
// the cluster, batching what it routes to another instance over flushDelay.
func joinTrackerCluster(s *trackerserver.Server, urls string, embedded bool, embeddedAddr string, ccfg trackerserver.ClusterConfig, stdout io.Writer, log *slog.Logger) (*trackerCluster, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	tc := &trackerCluster{log: log, stop: make(chan struct{})}
	if embedded {
		tc.addr = embeddedAddr
		hosting, err := tc.startEmbedded()
		if err != nil {
			return nil, err
		}
		urls = "nats://" + embeddedAddr
		if hosting {
			fmt.Fprintf(stdout, "nats: serving NATS on nats://%s\n", embeddedAddr)
		} else {
			fmt.Fprintf(stdout, "nats: using the NATS server already on nats://%s\n", embeddedAddr)
		}
	}
	nc, err := nats.Connect(urls,
		nats.Name("swarmcast tracker"),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(natsReconnectWait),
		nats.Timeout(natsConnectTimeout),
		nats.SetCustomDialer(&trackerserver.NATSDialer{Dialer: net.Dialer{Timeout: natsConnectTimeout}}),
		nats.RetryOnFailedConnect(false))
	if err != nil {
		tc.closeServer()
		return nil, fmt.Errorf("--nats %s: %w (is a NATS server running there?)", urls, err)
	}
	tc.nc = nc
	ccfg.Conn = nc
	if err := s.JoinCluster(ccfg); err != nil {
		nc.Close()
		tc.closeServer()
		return nil, err
	}
	st := s.Stats().Cluster
	fmt.Fprintf(stdout, "cluster: instance %s of %d\n", st.Instance, st.Instances)
	if embedded {
		tc.wg.Add(1)
		go tc.takeover()
	}
	return tc, nil
}

// startEmbedded serves NATS on tc.addr, unless the address is taken (by
// another tracker's embedded server, presumably): then it reports false.
func (tc *trackerCluster) startEmbedded() (bool, error) {
	host, portStr, err := net.SplitHostPort(tc.addr)
	if err != nil {
		return false, fmt.Errorf("%w: --nats-listen %q: give HOST:PORT", errUsage, tc.addr)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return false, fmt.Errorf("%w: --nats-listen %q: bad port", errUsage, tc.addr)
	}
	// Probe the address first: the server reports a failed listen only in
	// its log.
	ln, err := net.Listen("tcp", tc.addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return false, nil
		}
		return false, fmt.Errorf("--nats-embedded: %w", err)
	}
	ln.Close()
	srv, err := natsserver.NewServer(&natsserver.Options{Host: host, Port: port, NoSigs: true, NoLog: true,
		ServerName: "swarmcast-tracker-" + strconv.Itoa(port)})
	if err != nil {
		return false, fmt.Errorf("--nats-embedded: %w", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(natsConnectTimeout) {
		srv.Shutdown()
		return false, nil // someone took the port in between: use theirs
	}
	tc.mu.Lock()
	tc.srv = srv
	tc.mu.Unlock()
	return true, nil
}

// takeover starts an embedded server in place of the one this process was
// using, when that one has gone (its tracker stopped): the first instance
// to get the address serves the others, who reconnect to it.
func (tc *trackerCluster) takeover() {
	defer tc.wg.Done()
	t := time.NewTicker(embeddedTakeoverEvery)
	defer t.Stop()
	for {
		select {
		case <-tc.stop:
			return
		case <-t.C:
		}
		tc.mu.Lock()
		hosting := tc.srv != nil
		tc.mu.Unlock()
		if hosting || tc.nc.Status() == nats.CONNECTED {
			continue
		}
		if ok, err := tc.startEmbedded(); ok {
			tc.log.Info("tracker: took over serving NATS", "addr", tc.addr)
		} else if err != nil {
			tc.log.Debug("tracker: NATS takeover failed", "err", err)
		}
	}
}

func (tc *trackerCluster) closeServer() {
	tc.mu.Lock()
	srv := tc.srv
	tc.srv = nil
	tc.mu.Unlock()
	if srv != nil {
		srv.Shutdown()
		srv.WaitForShutdown()
	}
}

// Close ends the connection and the embedded server; call it after the
// tracker's Shutdown, which says goodbye to the cluster.
func (tc *trackerCluster) Close(ctx context.Context) {
	close(tc.stop)
	tc.wg.Wait()
	if tc.nc != nil {
		tc.nc.FlushWithContext(ctx)
		tc.nc.Close()
	}
	tc.closeServer()
}
