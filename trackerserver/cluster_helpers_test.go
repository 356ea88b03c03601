package trackerserver

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/swarmcast/swarmcast/internal/testenv"
)

// testHeartbeat makes membership changes quick in tests: an instance is
// dead after three of these.
const testHeartbeat = 100 * time.Millisecond

// natsBackend is a NATS server a test runs: the real program from apt, or
// the one embedded from the nats-server module.
type natsBackend interface {
	url() string
	stop()    // ends the server; clients start reconnecting
	restart() // starts it again on the same port
}

// natsBackends runs f with each kind of NATS server.
func natsBackends(t *testing.T, f func(t *testing.T, nb func(t *testing.T) natsBackend)) {
	t.Run("nats-server", func(t *testing.T) { f(t, func(t *testing.T) natsBackend { return startAptNATS(t) }) })
	t.Run("embedded", func(t *testing.T) { f(t, func(t *testing.T) natsBackend { return startEmbeddedNATS(t) }) })
}

// aptNATS is the nats-server program.
type aptNATS struct {
	t    *testing.T
	bin  string
	port int
	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startAptNATS runs nats-server on a loopback port until the test ends. A
// missing program skips the test, or fails it in CI or with
// SWARMCAST_INTEROP=1.
func startAptNATS(t *testing.T) natsBackend {
	t.Helper()
	bin, err := exec.LookPath("nats-server")
	if err != nil {
		if testenv.CI() || testenvInterop() {
			t.Fatalf("nats-server is missing (CI or SWARMCAST_INTEROP=1 is set, so this fails): run scripts/install-test-deps.sh")
		}
		t.Skip("nats-server is missing: run scripts/install-test-deps.sh")
	}
	n := &aptNATS{t: t, bin: bin, port: freePort(t)}
	n.restart()
	t.Cleanup(n.stop)
	return n
}

func (n *aptNATS) url() string { return "nats://127.0.0.1:" + strconv.Itoa(n.port) }

func (n *aptNATS) restart() {
	n.t.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	cmd := exec.Command(n.bin, "-a", "127.0.0.1", "-p", strconv.Itoa(n.port))
	if err := cmd.Start(); err != nil {
		n.t.Fatalf("nats-server: %v", err)
	}
	n.cmd, n.done = cmd, make(chan struct{})
	done := n.done
	go func() { cmd.Wait(); close(done) }()
	deadline := time.Now().Add(testTimeout)
	for {
		c, err := net.DialTimeout("tcp", n.url()[len("nats://"):], time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-done:
			n.t.Fatalf("nats-server exited at start (port %d)", n.port)
		default:
		}
		if time.Now().After(deadline) {
			n.t.Fatal("nats-server did not start listening")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (n *aptNATS) stop() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		return
	}
	n.cmd.Process.Kill()
	<-n.done
	n.cmd = nil
}

// embeddedNATS is a NATS server in the test's process.
type embeddedNATS struct {
	t          *testing.T
	port       int
	maxPayload int32 // the server's payload limit; 0: NATS's default, 1 MiB
	mu         sync.Mutex
	srv        *natsserver.Server
}

func startEmbeddedNATS(t *testing.T) natsBackend { return startEmbeddedNATSLimited(t, 0) }

// startEmbeddedNATSLimited starts an embedded server whose payload limit is
// maxPayload (0: NATS's default).
func startEmbeddedNATSLimited(t *testing.T, maxPayload int32) *embeddedNATS {
	t.Helper()
	n := &embeddedNATS{t: t, port: freePort(t), maxPayload: maxPayload}
	n.restart()
	t.Cleanup(n.stop)
	return n
}

func (n *embeddedNATS) url() string { return "nats://127.0.0.1:" + strconv.Itoa(n.port) }

func (n *embeddedNATS) restart() {
	n.t.Helper()
	srv, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: n.port, NoLog: true, NoSigs: true, MaxPayload: n.maxPayload})
	if err != nil {
		n.t.Fatal(err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(testTimeout) {
		n.t.Fatal("embedded NATS did not start")
	}
	n.mu.Lock()
	n.srv = srv
	n.mu.Unlock()
}

func (n *embeddedNATS) stop() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.srv == nil {
		return
	}
	n.srv.Shutdown()
	n.srv.WaitForShutdown()
	n.srv = nil
}

// connectNATS connects as the tracker does: reconnecting forever, quickly.
func connectNATS(t *testing.T, url string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond),
		nats.ReconnectJitter(0, 0), nats.Timeout(testTimeout),
		nats.SetCustomDialer(&NATSDialer{Dialer: net.Dialer{Timeout: testTimeout}}))
	if err != nil {
		t.Fatalf("connect to NATS: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// startInstance runs one tracker instance of the cluster on url.
func startInstance(t *testing.T, url string, cfg Config) *testServer {
	t.Helper()
	return startInstanceWith(t, url, cfg, ClusterConfig{})
}

// startInstanceWith is startInstance with cluster settings; their zero
// Heartbeat and Timeout are the tests' own.
func startInstanceWith(t *testing.T, url string, cfg Config, ccfg ClusterConfig) *testServer {
	t.Helper()
	ccfg.Conn = connectNATS(t, url)
	if ccfg.Heartbeat == 0 {
		ccfg.Heartbeat = testHeartbeat
	}
	if ccfg.Timeout == 0 {
		ccfg.Timeout = time.Second
	}
	return startServerWith(t, cfg, true, func(s *Server) {
		if err := s.JoinCluster(ccfg); err != nil {
			t.Fatal(err)
		}
	})
}

// startCluster runs n instances and waits until each sees all n.
func startCluster(t *testing.T, url string, n int, cfg Config) []*testServer {
	t.Helper()
	return startClusterWith(t, url, n, cfg, ClusterConfig{})
}

func startClusterWith(t *testing.T, url string, n int, cfg Config, ccfg ClusterConfig) []*testServer {
	t.Helper()
	var in []*testServer
	for range n {
		in = append(in, startInstanceWith(t, url, cfg, ccfg))
	}
	waitInstances(t, in, n)
	return in
}

func waitInstances(t *testing.T, in []*testServer, n int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d instances", n), func() bool {
		for _, ts := range in {
			if len(ts.cluster.instances()) != n {
				return false
			}
		}
		return true
	})
}

// ownedBy returns an info hash that instance owner owns, as every
// instance sees it, different for each salt.
func ownedBy(t *testing.T, in []*testServer, owner *testServer, salt byte) [20]byte {
	t.Helper()
	for i := range 1 << 16 {
		ih := hash20(salt)
		ih[18], ih[19] = byte(i>>8), byte(i)
		if owner.cluster.owner(&ih) == owner.inst {
			for _, ts := range in {
				if ts.cluster.owner(&ih) != owner.inst {
					t.Fatal("instances disagree about an owner")
				}
			}
			return ih
		}
	}
	t.Fatal("no info hash for that owner")
	return [20]byte{}
}

// testenvInterop reports whether SWARMCAST_INTEROP=1 asks for every
// third-party program to be there.
func testenvInterop() bool { return os.Getenv("SWARMCAST_INTEROP") == "1" }
