package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/swarmcast/swarmcast/daemon"
	"github.com/swarmcast/swarmcast/torrent"
)

// authEnv holds USER:PASS for serve (and the RPC client subcommands) when
// --auth is not given: a password in an environment variable stays out of
// the process list.
const authEnv = "SWARMCAST_AUTH"

// serveShutdownTimeout bounds the HTTP server's graceful shutdown: open
// event streams and long stream reads are cut after it.
const serveShutdownTimeout = 5 * time.Second

// serveIdleTimeout closes keep-alive connections idle this long: RPC clients
// poll every few seconds, and idle connections are otherwise held forever.
const serveIdleTimeout = 2 * time.Minute

func runServe(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", "[flags]", stderr)
	var cf clientFlags
	cf.register(fs)
	httpAddr := fs.String("http", "127.0.0.1:9091", "serve the RPC, API, web UI and streams on `ADDR` (another host needs --auth)")
	dataDir := fs.String("data", defaultDataDir(), "keep the daemon's state and downloads under `DIR`")
	downloadDir := fs.String("download-dir", "", "keep downloads in `DIR` (default DATA/downloads)")
	auth := fs.String("auth", "", "require HTTP basic auth `USER:PASS` (or set "+authEnv+")")
	var allowHosts stringList
	fs.Var(&allowHosts, "allow-host", "answer requests for this host `NAME` too, without --auth (repeatable; IP addresses and localhost always are)")
	configFile := fs.String("config", "", "read flags from a JSON `FILE` ({\"http\": \"...\", \"tracker\": [\"...\"]}); flags given on the command line win")
	logFormat := fs.String("log-format", "text", "log as `text` or json")
	logLevel := fs.String("log-level", "info", "log `LEVEL`: debug, info, warn or error")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("%w: serve takes no arguments (add torrents with swarmcast add, an RPC client or the web UI)", errUsage)
	}
	if *configFile != "" {
		if err := applyConfigFile(fs, *configFile); err != nil {
			return err
		}
	}
	logger, err := newLogger(stderr, *logFormat, *logLevel)
	if err != nil {
		return err
	}
	if *auth == "" {
		*auth = os.Getenv(authEnv)
	}
	if *auth != "" && !strings.Contains(*auth, ":") {
		return fmt.Errorf("%w: --auth wants USER:PASS", errUsage)
	}
	if err := daemon.CheckListen(*httpAddr, *auth != ""); err != nil {
		return err
	}
	if *downloadDir == "" {
		*downloadDir = filepath.Join(*dataDir, "downloads")
	}
	if err := os.MkdirAll(*downloadDir, 0o755); err != nil {
		return err
	}
	up, _ := parseRate(cf.upLimit)
	down, _ := parseRate(cf.downLimit)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	hl, err := net.Listen("tcp", *httpAddr)
	if err != nil {
		return fmt.Errorf("serving HTTP on %s: %w", *httpAddr, err)
	}
	defer hl.Close()
	// The client comes from the flags every client command shares.
	s, err := cf.start(*downloadDir, stderr)
	if err != nil {
		return err
	}
	_, portStr, _ := net.SplitHostPort(s.listen)
	port, _ := strconv.Atoi(portStr)
	d, err := daemon.New(daemon.Config{
		Client:       s.client,
		DataDir:      *dataDir,
		DownloadDir:  *downloadDir,
		Auth:         *auth,
		AllowedHosts: allowHosts,
		AddOptions:   torrent.AddOptions{Peers: cf.peers, Trackers: cf.trackers},
		PeerPort:     port,
		Session: daemon.SessionInfo{DHT: !cf.dht.off, LSD: !cf.noLSD, MaxConns: cf.maxConns,
			UploadRate: up, DownloadRate: down},
		Logger:  logger,
		Version: version,
	})
	if err != nil {
		s.close()
		return err
	}
	srv := &http.Server{Handler: d.Handler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: serveIdleTimeout, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
	srv.RegisterOnShutdown(d.EndStreams)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(hl) }()
	logger.Info("serving", "http", "http://"+hl.Addr().String()+"/", "rpc", "http://"+hl.Addr().String()+"/transmission/rpc",
		"peers", s.listen, "data", *dataDir, "downloads", *downloadDir, "torrents", len(s.client.Torrents()), "auth", *auth != "")

	select {
	case <-ctx.Done():
		logger.Info("shutting down: saving state, telling trackers")
	case err = <-served:
		logger.Error("HTTP server stopped", "err", err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), serveShutdownTimeout)
	defer cancel()
	errs := []error{}
	if serr := srv.Shutdown(sctx); serr != nil && !errors.Is(serr, context.DeadlineExceeded) {
		errs = append(errs, serr)
	}
	if derr := d.Close(); derr != nil {
		errs = append(errs, derr)
	}
	if cerr := s.close(); cerr != nil {
		errs = append(errs, cerr)
	}
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		errs = append(errs, err)
	}
	if e := errors.Join(errs...); e != nil {
		return e
	}
	logger.Info("stopped")
	return nil
}

// defaultDataDir is $XDG_DATA_HOME/swarmcast, or ~/.local/share/swarmcast.
func defaultDataDir() string {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "swarmcast")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "share", "swarmcast")
	}
	return "swarmcast-data"
}

// newLogger builds the daemon's structured log.
func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("%w: --log-level %q: want debug, info, warn or error", errUsage, level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("%w: --log-format %q: want text or json", errUsage, format)
}

// maxConfigSize bounds --config: it holds flags, not data.
const maxConfigSize = 1 << 20

// applyConfigFile sets flags from a JSON object whose keys are flag names;
// a list sets a repeatable flag once per element. Flags already given on
// the command line are left as given.
func applyConfigFile(fs *flag.FlagSet, path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("--config: %w", err)
	}
	if len(b) > maxConfigSize {
		return fmt.Errorf("--config %s: more than %d bytes", path, maxConfigSize)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("--config %s: %w", path, err)
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	for k, v := range m {
		if given[k] {
			continue
		}
		if k == "config" || fs.Lookup(k) == nil {
			return fmt.Errorf("--config %s: %q is not a flag of serve", path, k)
		}
		vals := []any{v}
		if l, ok := v.([]any); ok {
			vals = l
		}
		for _, x := range vals {
			var s string
			switch x := x.(type) {
			case string:
				s = x
			case bool:
				s = strconv.FormatBool(x)
			case float64:
				s = strconv.FormatFloat(x, 'f', -1, 64)
			default:
				return fmt.Errorf("--config %s: %q: want a string, number, boolean or a list of them", path, k)
			}
			if err := fs.Set(k, s); err != nil {
				return fmt.Errorf("--config %s: %q: %w", path, k, err)
			}
		}
	}
	return nil
}
