package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/swarmcast/swarmcast/daemon"
)

// remoteTimeout bounds one RPC client command.
const remoteTimeout = 60 * time.Second

// remoteFlags are the flags of the subcommands that talk to a running daemon.
type remoteFlags struct {
	rpc  string
	auth string
}

func newRemote(name, args string, stderr io.Writer) (*remoteFlags, *flag.FlagSet) {
	fs := newFlagSet(name, args, stderr)
	rf := &remoteFlags{}
	fs.StringVar(&rf.rpc, "rpc", "http://127.0.0.1:9091/transmission/rpc", "the daemon's RPC `URL`")
	fs.StringVar(&rf.auth, "auth", "", "`USER:PASS` for the daemon (or set "+authEnv+")")
	return rf, fs
}

func (rf *remoteFlags) client() *daemon.RPCClient {
	auth := rf.auth
	if auth == "" {
		auth = os.Getenv(authEnv)
	}
	c := &daemon.RPCClient{URL: rf.rpc}
	if auth != "" {
		c.User, c.Password, _ = strings.Cut(auth, ":")
	}
	return c
}

func runAdd(args []string, stdout, stderr io.Writer) error {
	rf, fs := newRemote("add", "TORRENT|MAGNET|URL... [flags]", stderr)
	paused := fs.Bool("paused", false, "add stopped")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return fmt.Errorf("%w: want at least one .torrent file, magnet link or URL", errUsage)
	}
	ctx, cancel := context.WithTimeout(context.Background(), remoteTimeout)
	defer cancel()
	c := rf.client()
	for _, a := range pos {
		args := map[string]any{"paused": *paused}
		switch {
		case isMagnetArg(a), strings.HasPrefix(a, "http://"), strings.HasPrefix(a, "https://"):
			args["filename"] = a
		default:
			b, err := os.ReadFile(a)
			if err != nil {
				return err
			}
			args["metainfo"] = base64.StdEncoding.EncodeToString(b)
		}
		var out map[string]struct {
			ID         int    `json:"id"`
			Name       string `json:"name"`
			HashString string `json:"hashString"`
		}
		if err := c.Call(ctx, "torrent-add", args, &out); err != nil {
			return err
		}
		for k, t := range out {
			what := "added"
			if k == "torrent-duplicate" {
				what = "already there"
			}
			fmt.Fprintf(stdout, "%d\t%s\t%s\t%s\n", t.ID, t.HashString, what, t.Name)
		}
	}
	return nil
}

func runLs(args []string, stdout, stderr io.Writer) error {
	rf, fs := newRemote("ls", "[flags]", stderr)
	asJSON := fs.Bool("json", false, "print the torrents as JSON")
	if _, err := parseInterleaved(fs, args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), remoteTimeout)
	defer cancel()
	var out struct {
		Torrents []struct {
			ID           int     `json:"id"`
			Name         string  `json:"name"`
			HashString   string  `json:"hashString"`
			Status       int     `json:"status"`
			PercentDone  float64 `json:"percentDone"`
			SizeWhenDone int64   `json:"sizeWhenDone"`
			RateDownload int64   `json:"rateDownload"`
			RateUpload   int64   `json:"rateUpload"`
			Peers        int     `json:"peersConnected"`
			ErrorString  string  `json:"errorString"`
		} `json:"torrents"`
	}
	fields := []string{"id", "name", "hashString", "status", "percentDone", "sizeWhenDone", "rateDownload", "rateUpload", "peersConnected", "errorString"}
	if err := rf.client().Call(ctx, "torrent-get", map[string]any{"fields": fields}, &out); err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out.Torrents)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tDone\tSize\tDown\tUp\tPeers\tState\tName")
	for _, t := range out.Torrents {
		state := map[int]string{0: "Stopped", 1: "Will verify", 2: "Verifying", 3: "Queued", 4: "Downloading", 5: "Queued", 6: "Seeding"}[t.Status]
		if t.ErrorString != "" {
			state = "Error: " + t.ErrorString
		}
		fmt.Fprintf(tw, "%d\t%d%%\t%s\t%s/s\t%s/s\t%d\t%s\t%s\n", t.ID, int(t.PercentDone*100), formatBytes(t.SizeWhenDone),
			formatBytes(t.RateDownload), formatBytes(t.RateUpload), t.Peers, state, t.Name)
	}
	return tw.Flush()
}

func runPause(args []string, stdout, stderr io.Writer) error {
	return remoteAction("pause", "torrent-stop", args, stdout, stderr)
}

func runResume(args []string, stdout, stderr io.Writer) error {
	return remoteAction("resume", "torrent-start", args, stdout, stderr)
}

func runRm(args []string, stdout, stderr io.Writer) error {
	return remoteAction("rm", "torrent-remove", args, stdout, stderr)
}

// remoteAction runs a method on the torrents named by id or info hash ("all"
// for every one).
func remoteAction(name, method string, args []string, stdout, stderr io.Writer) error {
	rf, fs := newRemote(name, "ID|INFOHASH|all... [flags]", stderr)
	var deleteData *bool
	if name == "rm" {
		deleteData = fs.Bool("delete-data", false, "delete the downloaded files too")
	}
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return fmt.Errorf("%w: name torrents by id or info hash, or say all", errUsage)
	}
	a := map[string]any{}
	var ids []any
	for _, p := range pos {
		if p == "all" {
			ids = nil
			break
		}
		if n, err := strconv.Atoi(p); err == nil {
			ids = append(ids, n)
		} else {
			ids = append(ids, p)
		}
	}
	if ids != nil {
		a["ids"] = ids
	}
	if deleteData != nil {
		a["delete-local-data"] = *deleteData
	}
	ctx, cancel := context.WithTimeout(context.Background(), remoteTimeout)
	defer cancel()
	return rf.client().Call(ctx, method, a, nil)
}
