package daemon

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/swarmcast/swarmcast/metainfo"
	"github.com/swarmcast/swarmcast/torrent"
)

// Transmission's RPC, version 16 (Transmission 3.00) with the fields of 17
// that clients ask for. The protocol: POST a JSON object {method, arguments,
// tag}; the answer is {result, arguments, tag}, result "success" or an error
// message. See Transmission's docs/rpc-spec.md.
const (
	rpcVersion        = 16
	rpcVersionMinimum = 14
	rpcSemver         = "5.2.0"
	// maxRPCBody bounds a request: torrent-add carries a .torrent in
	// base64, and 16 MiB holds a 12 MiB .torrent (a 100 GiB torrent in
	// 16 KiB pieces has 6.5 MB of hashes; most are under 1 MiB).
	maxRPCBody = 16 << 20
	// fetchTimeout and maxFetched bound torrent-add of a URL.
	fetchTimeout = 30 * time.Second
	maxFetched   = metainfo.MaxTorrentSize
)

// RPCRequest is one request of Transmission's RPC.
type RPCRequest struct {
	Method    string          `json:"method"`
	Arguments json.RawMessage `json:"arguments,omitempty"`
	Tag       json.RawMessage `json:"tag,omitempty"`
}

// RPCResponse is the answer to an RPCRequest.
type RPCResponse struct {
	Result    string          `json:"result"`
	Arguments any             `json:"arguments"`
	Tag       json.RawMessage `json:"tag,omitempty"`
}

// rpcError is an error RPC clients are told as the result.
type rpcError struct{ msg string }

func (e rpcError) Error() string { return e.msg }

func rpcErrorf(format string, a ...any) error { return rpcError{fmt.Sprintf(format, a...)} }

func (d *Daemon) serveRPC(w http.ResponseWriter, r *http.Request) {
	if !d.checkSession(w, r) {
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		http.Error(w, "405: the RPC takes POST requests", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRPCBody))
	if err != nil {
		http.Error(w, fmt.Sprintf("400: request body: %v (at most %d bytes)", err, maxRPCBody), http.StatusBadRequest)
		return
	}
	resp := d.Call(r.Context(), body)
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	if raw, ok := resp.Arguments.(json.RawMessage); ok {
		// A cached torrent-get answer is written as it is, not copied.
		w.Write([]byte(`{"arguments":`))
		w.Write(raw)
		w.Write(resp.appendTail(nil))
		return
	}
	w.Write(resp.appendJSON(nil))
}

// appendJSON encodes the response. Arguments already encoded (torrent-get's,
// which can be megabytes) are copied as they are, not parsed again.
func (r RPCResponse) appendJSON(b []byte) []byte {
	b = append(b, `{"arguments":`...)
	if raw, ok := r.Arguments.(json.RawMessage); ok {
		b = append(b, raw...)
	} else {
		args, err := json.Marshal(r.Arguments)
		if err != nil {
			args = []byte("{}")
		}
		b = append(b, args...)
	}
	return r.appendTail(b)
}

// appendTail appends what follows the arguments: the result and the tag.
func (r RPCResponse) appendTail(b []byte) []byte {
	b = append(b, `,"result":`...)
	b = appendJSONString(b, r.Result)
	if len(r.Tag) > 0 && json.Valid(r.Tag) {
		b = append(b, `,"tag":`...)
		b = append(b, r.Tag...)
	}
	return append(b, "}\n"...)
}

// Call answers one RPC request given as its JSON body.
func (d *Daemon) Call(ctx context.Context, body []byte) RPCResponse {
	var req RPCRequest
	if err := json.Unmarshal(body, &req); err != nil {
		d.metrics.rpc.WithLabelValues("invalid", "error").Inc()
		return RPCResponse{Result: "invalid request: " + err.Error(), Arguments: struct{}{}}
	}
	if len(req.Arguments) == 0 || string(req.Arguments) == "null" {
		req.Arguments = json.RawMessage("{}")
	}
	args, err := d.dispatch(ctx, req.Method, req.Arguments)
	method := req.Method
	if _, known := rpcMethods[method]; !known {
		method = "unknown"
	}
	resp := RPCResponse{Result: "success", Arguments: args, Tag: req.Tag}
	if args == nil {
		resp.Arguments = struct{}{}
	}
	if err != nil {
		resp.Result = err.Error()
		d.metrics.rpc.WithLabelValues(method, "error").Inc()
		d.log.Debug("rpc", "method", req.Method, "err", err)
	} else {
		d.metrics.rpc.WithLabelValues(method, "success").Inc()
	}
	return resp
}

// rpcMethods lists the methods answered, for metrics labels.
var rpcMethods = map[string]bool{
	"session-get": true, "session-set": true, "session-stats": true, "session-close": true,
	"torrent-add": true, "torrent-get": true, "torrent-set": true, "torrent-start": true, "torrent-start-now": true,
	"torrent-stop": true, "torrent-verify": true, "torrent-remove": true, "torrent-reannounce": true,
	"torrent-set-location": true, "torrent-rename-path": true, "free-space": true, "port-test": true,
	"blocklist-update": true, "queue-move-top": true, "queue-move-up": true, "queue-move-down": true, "queue-move-bottom": true,
}

func (d *Daemon) dispatch(ctx context.Context, method string, raw json.RawMessage) (any, error) {
	switch method {
	case "session-get":
		var a struct {
			Fields []string `json:"fields"`
		}
		if err := json.Unmarshal(raw, &a); err != nil {
			return nil, rpcErrorf("session-get: %v", err)
		}
		return d.sessionGet(a.Fields), nil
	case "session-set":
		return nil, d.sessionSet(raw)
	case "session-stats":
		return d.sessionStats(), nil
	case "session-close":
		return nil, rpcErrorf("session-close: swarmcast serve stops on SIGTERM or Ctrl-C, not over RPC")
	case "torrent-add":
		return d.rpcAdd(ctx, raw)
	case "torrent-get":
		return d.cachedGet(raw)
	case "torrent-set":
		return nil, d.rpcSet(raw)
	case "torrent-start", "torrent-start-now":
		return nil, d.each(raw, d.start)
	case "torrent-stop":
		return nil, d.each(raw, d.stop)
	case "torrent-verify":
		return nil, d.each(raw, d.verify)
	case "torrent-remove":
		var a struct {
			Delete bool `json:"delete-local-data"`
		}
		if err := json.Unmarshal(raw, &a); err != nil {
			return nil, rpcErrorf("torrent-remove: %v", err)
		}
		return nil, d.each(raw, func(e *entry) error { return d.remove(e, a.Delete) })
	case "torrent-reannounce":
		return nil, rpcErrorf("torrent-reannounce: not supported yet (the engine announces on its own schedule)")
	case "torrent-set-location":
		return nil, rpcErrorf("torrent-set-location: not supported: a torrent's data is not moved once added (torrent-add's download-dir takes a folder inside %s)", d.cfg.DownloadDir)
	case "torrent-rename-path":
		return nil, rpcErrorf("torrent-rename-path: not supported yet")
	case "free-space":
		return d.freeSpace(raw)
	case "port-test":
		// Transmission asks a web service of its project whether the port
		// is open from outside; swarmcast asks no outside service, so it
		// cannot know, and says so rather than guess.
		return nil, rpcErrorf("port-test: swarmcast cannot test its peer port from outside (it asks no outside service); the port is %d", d.cfg.PeerPort)
	case "blocklist-update":
		return nil, rpcErrorf("blocklist-update: blocklists are not supported yet")
	case "queue-move-top", "queue-move-up", "queue-move-down", "queue-move-bottom":
		return nil, rpcErrorf("%s: swarmcast has no download queue: every started torrent runs", method)
	case "":
		return nil, rpcErrorf("no method given")
	default:
		return nil, rpcErrorf("method name not recognized: %q", method)
	}
}

// idsArg is the "ids" argument: absent (every torrent), a number, a hash
// string, "recently-active", or a list of numbers and hash strings.
type idsArg struct {
	all            bool
	recentlyActive bool
	ids            []int
	hashes         []metainfo.Hash
}

func parseIDs(raw json.RawMessage) (idsArg, error) {
	var a struct {
		IDs json.RawMessage `json:"ids"`
	}
	if err := json.Unmarshal(raw, &a); err != nil {
		return idsArg{}, rpcErrorf("arguments: %v", err)
	}
	if len(a.IDs) == 0 || string(a.IDs) == "null" {
		return idsArg{all: true}, nil
	}
	var out idsArg
	one := func(v any) error {
		switch v := v.(type) {
		case float64:
			out.ids = append(out.ids, int(v))
		case string:
			if v == "recently-active" {
				out.recentlyActive = true
				return nil
			}
			h, err := metainfo.ParseHash(v)
			if err != nil {
				return rpcErrorf("ids: %q is neither an id nor an info hash", v)
			}
			out.hashes = append(out.hashes, h)
		default:
			return rpcErrorf("ids: %v is neither an id nor an info hash", v)
		}
		return nil
	}
	var v any
	if err := json.Unmarshal(a.IDs, &v); err != nil {
		return out, rpcErrorf("ids: %v", err)
	}
	if list, ok := v.([]any); ok {
		for _, x := range list {
			if err := one(x); err != nil {
				return out, err
			}
		}
		return out, nil
	}
	return out, one(v)
}

// recentWindow is what "recently-active" means: Transmission's
// RECENTLY_ACTIVE_SECONDS.
const recentWindow = 60 * time.Second

// selectEntries returns the torrents an ids argument names, in id order;
// ids that name nothing are skipped, as Transmission does.
func (d *Daemon) selectEntries(a idsArg) []*entry {
	all := d.entries()
	if a.all {
		return all
	}
	var out []*entry
	for _, e := range all {
		switch {
		case slices.Contains(a.ids, e.id), slices.Contains(a.hashes, e.hash):
			out = append(out, e)
		case a.recentlyActive:
			s := e.snapshot()
			if s.DownloadRate > 0 || s.UploadRate > 0 || s.Checking || time.Since(e.added) < recentWindow {
				out = append(out, e)
			}
		}
	}
	return out
}

// each runs fn on every torrent named, and joins the errors.
func (d *Daemon) each(raw json.RawMessage, fn func(*entry) error) error {
	a, err := parseIDs(raw)
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range d.selectEntries(a) {
		if err := fn(e); err != nil {
			errs = append(errs, fmt.Errorf("torrent %d: %w", e.id, err))
		}
	}
	if len(errs) > 0 {
		return rpcError{errors.Join(errs...).Error()}
	}
	return nil
}

type addArgs struct {
	Filename    string `json:"filename"`
	Metainfo    string `json:"metainfo"`
	Paused      *bool  `json:"paused"`
	DownloadDir string `json:"download-dir"`
	Wanted      []int  `json:"files-wanted"`
	Unwanted    []int  `json:"files-unwanted"`
	High        []int  `json:"priority-high"`
	Low         []int  `json:"priority-low"`
	Normal      []int  `json:"priority-normal"`
}

func (d *Daemon) rpcAdd(ctx context.Context, raw json.RawMessage) (any, error) {
	var a addArgs
	if err := json.Unmarshal(raw, &a); err != nil {
		return nil, rpcErrorf("torrent-add: %v", err)
	}
	req := addRequest{DownloadDir: a.DownloadDir, Wanted: a.Wanted, Unwanted: a.Unwanted, High: a.High, Low: a.Low}
	if a.Paused != nil {
		req.Paused = *a.Paused
	}
	switch {
	case a.Metainfo != "":
		b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(a.Metainfo))
		if err != nil {
			return nil, rpcErrorf("torrent-add: metainfo is not base64: %v", err)
		}
		req.Metainfo = b
	case strings.HasPrefix(a.Filename, "magnet:"):
		req.Magnet = a.Filename
	case isInfoHash(a.Filename):
		req.Magnet = "magnet:?xt=urn:btih:" + a.Filename
	case strings.HasPrefix(a.Filename, "http://") || strings.HasPrefix(a.Filename, "https://"):
		b, err := d.fetch(ctx, a.Filename)
		if err != nil {
			return nil, rpcErrorf("torrent-add: %v", err)
		}
		req.Metainfo = b
	case a.Filename != "":
		// Transmission reads a path on the daemon's host here; swarmcast
		// does not open local files for a remote caller.
		return nil, rpcErrorf("torrent-add: filename %q: give a magnet link, an http(s) URL, or the file's bytes as metainfo (swarmcast does not read paths on its host)", a.Filename)
	default:
		return nil, rpcErrorf("torrent-add: no filename or metainfo argument")
	}
	e, err := d.add(req)
	if errors.Is(err, ErrDuplicate) && e != nil {
		return map[string]any{"torrent-duplicate": addedJSON(e)}, nil
	}
	if err != nil {
		return nil, rpcErrorf("torrent-add: %v", err)
	}
	return map[string]any{"torrent-added": addedJSON(e)}, nil
}

func addedJSON(e *entry) map[string]any {
	return map[string]any{"id": e.id, "name": e.t.Name(), "hashString": e.hash.String()}
}

func isInfoHash(s string) bool {
	_, err := metainfo.ParseHash(s)
	return err == nil && (len(s) == 40 || len(s) == 32)
}

// fetch gets a .torrent by URL.
func (d *Daemon) fetch(ctx context.Context, url string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	if d.cfg.FetchTorrent != nil {
		return d.cfg.FetchTorrent(ctx, url)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", "swarmcast/"+d.cfg.Version)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", url, resp.Status)
	}
	var buf bytes.Buffer
	n, err := buf.ReadFrom(io.LimitReader(resp.Body, maxFetched+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", url, err)
	}
	if n > maxFetched {
		return nil, fmt.Errorf("%s: more than %d bytes: not a .torrent", url, maxFetched)
	}
	return buf.Bytes(), nil
}

// Bounds of the torrent-get cache: requests with arguments longer than
// maxCachedArgs (long id lists) are answered afresh; the cache holds the
// answers to at most maxCachedGets different requests (clients poll with a
// handful of field lists).
const (
	maxCachedArgs = 4 << 10
	maxCachedGets = 32
)

// getCache holds the last answer to each distinct torrent-get request.
type getCache struct {
	mu sync.Mutex
	m  map[string]*cachedGet
}

type cachedGet struct {
	gen   uint64
	ready chan struct{} // closed once ans and err are set
	ans   any
	err   error
}

// cachedGet answers torrent-get from the answer to the same request in the
// same generation of snapshots, if there is one: every value comes from
// snapshots that change once a second, so a list view polled by many
// clients, or 200 times a second, is encoded about once a second. Requests
// that arrive while it is being encoded wait for it.
func (d *Daemon) cachedGet(raw json.RawMessage) (any, error) {
	if len(raw) > maxCachedArgs {
		return d.rpcGet(raw)
	}
	gen := d.gen.Load()
	key := string(raw)
	d.getCache.mu.Lock()
	if d.getCache.m == nil {
		d.getCache.m = map[string]*cachedGet{}
	}
	c := d.getCache.m[key]
	if c != nil && c.gen == gen {
		d.getCache.mu.Unlock()
		<-c.ready
		return c.ans, c.err
	}
	if c == nil && len(d.getCache.m) >= maxCachedGets {
		for k := range d.getCache.m { // evict any one
			delete(d.getCache.m, k)
			break
		}
	}
	c = &cachedGet{gen: gen, ready: make(chan struct{})}
	d.getCache.m[key] = c
	d.getCache.mu.Unlock()
	c.ans, c.err = d.rpcGet(raw)
	close(c.ready)
	return c.ans, c.err
}

func (d *Daemon) rpcGet(raw json.RawMessage) (any, error) {
	var a struct {
		Fields []string `json:"fields"`
		Format string   `json:"format"`
	}
	if err := json.Unmarshal(raw, &a); err != nil {
		return nil, rpcErrorf("torrent-get: %v", err)
	}
	if len(a.Fields) == 0 {
		return nil, rpcErrorf("torrent-get: no fields requested")
	}
	ids, err := parseIDs(raw)
	if err != nil {
		return nil, err
	}
	entries := d.selectEntries(ids)
	if a.Format == "table" {
		rows := make([][]any, 0, len(entries)+1)
		head := make([]any, len(a.Fields))
		for i, f := range a.Fields {
			head[i] = f
		}
		rows = append(rows, head)
		for _, e := range entries {
			fc := d.newFieldCtx(e)
			row := make([]any, 0, len(a.Fields))
			for _, f := range a.Fields {
				v, _ := fc.field(f)
				row = append(row, v)
			}
			rows = append(rows, row)
		}
		return map[string]any{"torrents": rows}, nil
	}
	// Each field once, its key encoded once for every torrent.
	var fields []string
	var keys [][]byte
	for _, f := range a.Fields {
		if !slices.Contains(fields, f) {
			fields = append(fields, f)
			keys = append(keys, append(appendJSONString(nil, f), ':'))
		}
	}
	b := make([]byte, 0, 64+len(entries)*len(fields)*24)
	b = append(b, `{"torrents":[`...)
	for i, e := range entries {
		if i > 0 {
			b = append(b, ',')
		}
		fc := d.newFieldCtx(e)
		b = append(b, '{')
		n := 0
		for j, f := range fields {
			v, ok := fc.field(f)
			if !ok {
				continue
			}
			if n > 0 {
				b = append(b, ',')
			}
			n++
			b = append(b, keys[j]...)
			b = appendJSONValue(b, v)
		}
		b = append(b, '}')
	}
	b = append(b, ']')
	if ids.recentlyActive {
		b = append(b, `,"removed":[]`...)
	}
	return json.RawMessage(append(b, '}')), nil
}

// rpcSet is torrent-set: files wanted and their priorities, and the
// torrent's own rate limits. The other settings of a torrent are refused by
// name until the engine has them.
func (d *Daemon) rpcSet(raw json.RawMessage) error {
	var a map[string]json.RawMessage
	if err := json.Unmarshal(raw, &a); err != nil {
		return rpcErrorf("torrent-set: %v", err)
	}
	var lists = map[string][]int{}
	var unsupported []string
	var limits limitsSet
	for k, v := range a {
		if ok, err := limits.take("torrent-set", torrentLimitKeys, k, v); err != nil {
			return err
		} else if ok {
			continue
		}
		switch k {
		case "ids":
		case "files-wanted", "files-unwanted", "priority-high", "priority-normal", "priority-low":
			var l []int
			if err := json.Unmarshal(v, &l); err != nil {
				return rpcErrorf("torrent-set: %s: %v", k, err)
			}
			lists[k] = l
		case "honorsSessionLimits":
			// A torrent's limits always apply within the session's.
			var b bool
			if json.Unmarshal(v, &b) != nil || !b {
				unsupported = append(unsupported, k)
			}
		default:
			unsupported = append(unsupported, k)
		}
	}
	if len(unsupported) > 0 {
		sort.Strings(unsupported)
		return rpcErrorf("torrent-set: not supported yet: %s (files-wanted, files-unwanted, priority-*, downloadLimit(ed) and uploadLimit(ed) are)", strings.Join(unsupported, ", "))
	}
	return d.each(raw, func(e *entry) error {
		if limits.any() {
			d.setLimits(e, limits)
		}
		if len(lists) == 0 {
			return nil
		}
		files := e.t.Files()
		if files == nil {
			return errors.New("its files are not known yet (the magnet's metadata has not arrived)")
		}
		for _, k := range []string{"files-wanted", "files-unwanted", "priority-high", "priority-normal", "priority-low"} {
			l, ok := lists[k]
			if !ok {
				continue
			}
			if len(l) == 0 && (k == "files-wanted" || k == "files-unwanted") {
				// An empty list means every file, as in Transmission.
				l = make([]int, len(files))
				for i := range l {
					l[i] = i
				}
			}
			for _, i := range l {
				if i < 0 || i >= len(files) {
					return fmt.Errorf("%s: file %d: the torrent has %d files", k, i, len(files))
				}
				f := files[i]
				switch k {
				case "files-wanted":
					if f.Priority() == torrent.PriorityNone {
						f.SetPriority(torrent.PriorityNormal)
					}
				case "files-unwanted":
					f.SetPriority(torrent.PriorityNone)
				case "priority-high":
					if f.Priority() != torrent.PriorityNone {
						f.SetPriority(torrent.PriorityHigh)
					}
				case "priority-normal", "priority-low":
					// The engine has no low tier: low downloads as normal.
					if f.Priority() != torrent.PriorityNone {
						f.SetPriority(torrent.PriorityNormal)
					}
				}
			}
		}
		d.notePriorities(e)
		d.forget(e)
		d.saveOrLog()
		return nil
	})
}

func (d *Daemon) freeSpace(raw json.RawMessage) (any, error) {
	var a struct {
		Path string `json:"path"`
	}
	if err := json.Unmarshal(raw, &a); err != nil {
		return nil, rpcErrorf("free-space: %v", err)
	}
	if a.Path == "" {
		a.Path = d.cfg.DownloadDir
	}
	free, total, err := diskSpace(a.Path)
	if err != nil {
		return nil, rpcErrorf("free-space: %v", err)
	}
	return map[string]any{"path": a.Path, "size-bytes": free, "total_size": total}, nil
}

// limitsSet is what a torrent-set or session-set says of rate limits
// (nil: not said).
type limitsSet struct {
	down, up     *int64 // kB/s
	downOn, upOn *bool
}

// limitKeys names a method's four limit arguments: the download and upload
// limits in kB/s, and their switches.
type limitKeys struct{ down, up, downOn, upOn string }

var (
	torrentLimitKeys = limitKeys{"downloadLimit", "uploadLimit", "downloadLimited", "uploadLimited"}
	sessionLimitKeys = limitKeys{"speed-limit-down", "speed-limit-up", "speed-limit-down-enabled", "speed-limit-up-enabled"}
)

// take records argument k of method, with value v, when k is one of keys,
// and reports whether it was.
func (l *limitsSet) take(method string, keys limitKeys, k string, v json.RawMessage) (bool, error) {
	var num **int64
	var on **bool
	switch k {
	case keys.down:
		num = &l.down
	case keys.up:
		num = &l.up
	case keys.downOn:
		on = &l.downOn
	case keys.upOn:
		on = &l.upOn
	default:
		return false, nil
	}
	if num != nil {
		var n int64
		if err := json.Unmarshal(v, &n); err != nil || n < 0 {
			return true, rpcErrorf("%s: %s: want a number of kB/s, not %s", method, k, v)
		}
		*num = &n
		return true, nil
	}
	var b bool
	if err := json.Unmarshal(v, &b); err != nil {
		return true, rpcErrorf("%s: %s: want true or false, not %s", method, k, v)
	}
	*on = &b
	return true, nil
}

func (l limitsSet) any() bool {
	return l.down != nil || l.up != nil || l.downOn != nil || l.upOn != nil
}

// setLimits applies l to e's limits and hands them to the engine.
func (d *Daemon) setLimits(e *entry, l limitsSet) {
	d.mu.Lock()
	e.limits = e.limits.with(l)
	lim := e.limits
	d.mu.Unlock()
	lim.apply(e.t)
	d.forget(e)
	d.saveOrLog()
}
