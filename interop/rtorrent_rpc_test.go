package interop

import (
	"bufio"
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// rTorrent has no command line for what a test needs (add a torrent, add a peer, ask whether a
// download is complete): it is driven over XML-RPC, which it serves on a Unix socket with SCGI
// framing (network.scgi.open_local). This file holds that client and rTorrent's start-up.

// rtorrentCallTimeout bounds one XML-RPC call: rTorrent answers from its main loop, within
// milliseconds even while it hashes.
const rtorrentCallTimeout = 10 * time.Second

// rtorrentPoll is how often a test asks rTorrent for a state it waits for.
const rtorrentPoll = 200 * time.Millisecond

// rtorrent is a running rTorrent (daemon mode: no curses screen) with one session of its own.
type rtorrent struct {
	*bgProc
	sock string // the SCGI socket
	host string // where it listens for peers
	port int
}

// startRTorrent runs rTorrent listening for peers on host (a free port), saving downloads in dir, with
// DHT, PEX, UDP trackers and encryption off, and waits until it answers on its RPC socket.
func startRTorrent(t testing.TB, host, dir string) *rtorrent {
	t.Helper()
	requireTool(t, "rtorrent")
	work := t.TempDir()
	session := filepath.Join(work, "session")
	if err := os.MkdirAll(session, 0o755); err != nil {
		t.Fatal(err)
	}
	r := &rtorrent{sock: filepath.Join(work, "rpc.sock"), host: host, port: freeTCPPort(t, host)}
	// rTorrent's config language: values are not quoted unless they hold commas or spaces.
	rc := strings.Join([]string{
		"directory.default.set = " + rtQuote(dir),
		"session.path.set = " + rtQuote(session),
		fmt.Sprintf("network.port_range.set = %d-%d", r.port, r.port),
		"network.port_random.set = no",
		"network.bind_address.set = " + host,
		"network.local_address.set = " + host, // the address it announces
		"dht.mode.set = disable",
		"protocol.pex.set = no",
		"trackers.use_udp.set = no",
		"protocol.encryption.set = allow_incoming", // plaintext out, either in: swarmcast has no MSE/PE
		"throttle.max_uploads.global.set = 0",      // 0 is unlimited
		"system.daemon.set = true",
		"network.scgi.open_local = " + rtQuote(r.sock),
		// Its log (connections, tracker answers) goes to stderr, for a failed test's log.
		`log.open_file = "stderr", /dev/stderr`,
		`log.add_output = "info", "stderr"`,
		"",
	}, "\n")
	rcPath := filepath.Join(work, "rtorrent.rc")
	if err := os.WriteFile(rcPath, []byte(rc), 0o644); err != nil {
		t.Fatal(err)
	}
	// -n: no ~/.rtorrent.rc; HOME in the test's folder keeps rTorrent away from the user's files.
	r.bgProc = startBG(t, "rtorrent", bgOpts{dir: work, env: []string{"HOME=" + work}}, "rtorrent", "-n", "-o", "import="+rcPath)
	var version string
	err := r.poll(engineReadyTimeout, func() (bool, error) {
		v, err := r.call("system.client_version")
		if err != nil {
			return false, nil // not listening yet
		}
		version = v.String()
		return true, nil
	})
	if err != nil {
		t.Fatalf("rtorrent did not answer on its RPC socket: %v", err)
	}
	t.Logf("rTorrent %s listens for peers on %s", version, r.addr())
	return r
}

// rtQuote quotes a path for rTorrent's config language.
func rtQuote(s string) string { return strconv.Quote(s) }

// addr is where rTorrent accepts peers.
func (r *rtorrent) addr() string { return net.JoinHostPort(r.host, strconv.Itoa(r.port)) }

// poll calls f every rtorrentPoll until it reports done, returns an error, rTorrent exits, or
// timeout passes.
func (r *rtorrent) poll(timeout time.Duration, f func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		done, err := f()
		if err != nil || done {
			return err
		}
		r.mu.Lock()
		exited, waitErr := r.exited, r.waitErr
		r.mu.Unlock()
		if exited {
			return fmt.Errorf("rtorrent exited: %v", waitErr)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("gave up after %v", timeout)
		}
		select {
		case <-r.done:
		case <-time.After(rtorrentPoll):
		}
	}
}

// load adds a .torrent (or magnet link) and starts it, and returns its info hash as rTorrent reports
// it (upper-case hex): the one download rTorrent has.
func (r *rtorrent) load(target string) string {
	r.t.Helper()
	if _, err := r.call("load.start_verbose", "", target); err != nil {
		r.t.Fatalf("rtorrent load.start_verbose %s: %v", target, err)
	}
	var hash string
	err := r.poll(engineReadyTimeout, func() (bool, error) {
		v, err := r.call("download_list")
		if err != nil {
			return false, err
		}
		if list := v.Array(); len(list) > 0 {
			hash = list[0].String()
			return true, nil
		}
		return false, nil
	})
	if err != nil {
		r.t.Fatalf("rtorrent did not take %s: %v", target, err)
	}
	return hash
}

// number calls a d.* command of the download hash that answers a number.
func (r *rtorrent) number(method, hash string) (int64, error) {
	v, err := r.call(method, hash)
	if err != nil {
		return 0, err
	}
	return v.Int()
}

// waitComplete waits until the download hash is complete (every chunk hashed), or reports what it
// had when timeout passed.
func (r *rtorrent) waitComplete(hash string, timeout time.Duration) error {
	var last string
	err := r.poll(timeout, func() (bool, error) {
		done, err := r.number("d.complete", hash)
		if err != nil {
			return false, err
		}
		have, _ := r.number("d.completed_bytes", hash)
		peers, _ := r.number("d.peers_connected", hash)
		msg, _ := r.call("d.message", hash)
		last = fmt.Sprintf("%d bytes verified, %d peer(s) connected, message %q", have, peers, msg.String())
		return done == 1, nil
	})
	if err != nil {
		return fmt.Errorf("%w (last: %s)", err, last)
	}
	return nil
}

// waitSeeding waits until rTorrent has checked the data of hash and found all of it.
func (r *rtorrent) waitSeeding(hash string) {
	r.t.Helper()
	if err := r.waitComplete(hash, engineReadyTimeout); err != nil {
		r.t.Fatalf("rtorrent did not find the data of %s complete: %v", hash, err)
	}
}

// addPeer has rTorrent connect to addr for the download hash.
func (r *rtorrent) addPeer(hash, addr string) {
	r.t.Helper()
	if _, err := r.call("add_peer", hash, addr); err != nil {
		r.t.Fatalf("rtorrent add_peer %s: %v", addr, err)
	}
}

// call makes one XML-RPC call over SCGI: a netstring of headers, the body, then the answer until EOF.
func (r *rtorrent) call(method string, params ...any) (xrValue, error) {
	body, err := xrRequest(method, params...)
	if err != nil {
		return xrValue{}, err
	}
	c, err := net.DialTimeout("unix", r.sock, rtorrentCallTimeout)
	if err != nil {
		return xrValue{}, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(rtorrentCallTimeout))
	headers := fmt.Sprintf("CONTENT_LENGTH\x00%d\x00SCGI\x001\x00", len(body))
	if _, err := fmt.Fprintf(c, "%d:%s,%s", len(headers), headers, body); err != nil {
		return xrValue{}, err
	}
	resp, err := io.ReadAll(c)
	if err != nil {
		return xrValue{}, fmt.Errorf("%s: reading the answer: %w", method, err)
	}
	// The answer is CGI-style: headers (Status, Content-Type), a blank line, the XML.
	tp := textproto.NewReader(bufio.NewReader(bytes.NewReader(resp)))
	h, err := tp.ReadMIMEHeader()
	if err != nil {
		return xrValue{}, fmt.Errorf("%s: answer headers: %w", method, err)
	}
	if s := h.Get("Status"); s != "" && !strings.HasPrefix(s, "200") {
		return xrValue{}, fmt.Errorf("%s: status %s", method, s)
	}
	xmlBody, _ := io.ReadAll(tp.R)
	var mr struct {
		Params []xrValue `xml:"params>param>value"`
		Fault  *xrValue  `xml:"fault>value"`
	}
	if err := xml.Unmarshal(xmlBody, &mr); err != nil {
		return xrValue{}, fmt.Errorf("%s: answer is not XML-RPC: %w: %q", method, err, xmlBody)
	}
	if mr.Fault != nil {
		return xrValue{}, fmt.Errorf("%s: fault: %s", method, mr.Fault.describe())
	}
	if len(mr.Params) != 1 {
		return xrValue{}, fmt.Errorf("%s: answer has %d values, want 1", method, len(mr.Params))
	}
	return mr.Params[0], nil
}

// xrRequest encodes an XML-RPC methodCall with string and integer parameters.
func xrRequest(method string, params ...any) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0"?><methodCall><methodName>`)
	if err := xml.EscapeText(&b, []byte(method)); err != nil {
		return nil, err
	}
	b.WriteString(`</methodName><params>`)
	for _, p := range params {
		b.WriteString(`<param><value>`)
		switch v := p.(type) {
		case string:
			b.WriteString(`<string>`)
			if err := xml.EscapeText(&b, []byte(v)); err != nil {
				return nil, err
			}
			b.WriteString(`</string>`)
		case int:
			fmt.Fprintf(&b, `<i8>%d</i8>`, v)
		default:
			return nil, fmt.Errorf("xmlrpc: cannot encode %T", p)
		}
		b.WriteString(`</value></param>`)
	}
	b.WriteString(`</params></methodCall>`)
	return b.Bytes(), nil
}

// xrValue is one XML-RPC value, of the types rTorrent answers with.
type xrValue struct {
	I8     *string  `xml:"i8"`
	I4     *string  `xml:"i4"`
	Int4   *string  `xml:"int"`
	Str    *string  `xml:"string"`
	Arr    *xrArray `xml:"array"`
	Struct *struct {
		Members []struct {
			Name  string  `xml:"name"`
			Value xrValue `xml:"value"`
		} `xml:"member"`
	} `xml:"struct"`
	Text string `xml:",chardata"` // a value with no type element is a string
}

type xrArray struct {
	Values []xrValue `xml:"data>value"`
}

// Int returns an integer value.
func (v xrValue) Int() (int64, error) {
	for _, s := range []*string{v.I8, v.I4, v.Int4} {
		if s != nil {
			return strconv.ParseInt(strings.TrimSpace(*s), 10, 64)
		}
	}
	return 0, errors.New("xmlrpc: not an integer: " + v.describe())
}

// String returns a string value (or an integer's digits).
func (v xrValue) String() string {
	switch {
	case v.Str != nil:
		return *v.Str
	case v.I8 != nil:
		return *v.I8
	case v.I4 != nil:
		return *v.I4
	case v.Int4 != nil:
		return *v.Int4
	}
	return v.Text
}

// Array returns an array's elements (nil for any other type).
func (v xrValue) Array() []xrValue {
	if v.Arr == nil {
		return nil
	}
	return v.Arr.Values
}

// describe renders a value for error messages.
func (v xrValue) describe() string {
	switch {
	case v.Arr != nil:
		var parts []string
		for _, e := range v.Arr.Values {
			parts = append(parts, e.describe())
		}
		return "[" + strings.Join(parts, " ") + "]"
	case v.Struct != nil:
		var parts []string
		for _, m := range v.Struct.Members {
			parts = append(parts, m.Name+"="+m.Value.describe())
		}
		return "{" + strings.Join(parts, " ") + "}"
	}
	return strconv.Quote(v.String())
}
