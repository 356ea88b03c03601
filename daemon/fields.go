package daemon

import (
	"encoding/base64"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/swarmcast/swarmcast/metainfo"
	"github.com/swarmcast/swarmcast/torrent"
)

// Transmission's torrent status codes (tr_torrent_activity).
const (
	statusStopped      = 0
	statusCheckWait    = 1
	statusCheck        = 2
	statusDownloadWait = 3
	statusDownload     = 4
	statusSeedWait     = 5
	statusSeed         = 6
)

// Transmission's error codes (tr_stat_errtype).
const (
	errNone         = 0
	errLocal        = 3
	etaNotAvailable = -1
	etaUnknown      = -2
)

// fieldCtx computes torrent-get fields of one torrent, reading its
// statistics and files once however many fields ask for them.
type fieldCtx struct {
	d     *Daemon
	e     *entry
	s     torrent.Stats
	info  *metainfo.Info
	files []*torrent.File
	have  []int64 // bytes verified per file, computed on demand
	conns []torrent.PeerInfo
}

func (d *Daemon) newFieldCtx(e *entry) *fieldCtx {
	return &fieldCtx{d: d, e: e, s: e.snapshot(), info: e.t.Info()}
}

func (fc *fieldCtx) torrentFiles() []*torrent.File {
	if fc.files == nil && fc.info != nil {
		fc.files = fc.e.t.Files()
	}
	return fc.files
}

// status maps the engine's state to Transmission's codes.
func (fc *fieldCtx) status() int {
	switch {
	case fc.e.paused, fc.s.Error != "":
		return statusStopped
	case fc.s.Checking:
		return statusCheck
	case fc.s.HasInfo && fc.s.Complete:
		return statusSeed
	default:
		return statusDownload
	}
}

// sizeWhenDone is the bytes of the wanted files; before a magnet's info is
// known, nothing.
func (fc *fieldCtx) sizeWhenDone() int64 { return fc.s.BytesWanted }

func (fc *fieldCtx) leftUntilDone() int64 {
	if !fc.s.HasInfo {
		return 0
	}
	return fc.s.BytesLeft
}

func (fc *fieldCtx) percentDone() float64 {
	if !fc.s.HasInfo {
		return 0
	}
	if fc.s.BytesWanted == 0 {
		return 1
	}
	return float64(fc.s.BytesWanted-fc.s.BytesLeft) / float64(fc.s.BytesWanted)
}

func (fc *fieldCtx) errorString() string {
	if fc.s.Error != "" && !fc.e.paused {
		return fc.s.Error
	}
	if fc.s.Error != "" && !strings.Contains(fc.s.Error, torrent.ErrStopped.Error()) {
		return fc.s.Error
	}
	return ""
}

// fileBytes returns the verified bytes of each file.
func (fc *fieldCtx) fileBytes() []int64 {
	if fc.have != nil || fc.info == nil {
		return fc.have
	}
	list := fc.info.FileList()
	fc.have = make([]int64, len(list))
	plen := fc.info.PieceLength
	for i, f := range list {
		if f.Length == 0 {
			continue
		}
		first, end := fc.info.FilePieces(f)
		var n int64
		for p := first; p < end; p++ {
			if !fc.e.t.HavePiece(p) {
				continue
			}
			start, stop := int64(p)*plen, int64(p)*plen+fc.info.PieceSize(p)
			start, stop = max(start, f.Offset), min(stop, f.Offset+f.Length)
			if stop > start {
				n += stop - start
			}
		}
		fc.have[i] = n
	}
	return fc.have
}

// transmissionPriority maps a file's priority to Transmission's -1/0/1.
func transmissionPriority(p torrent.Priority) int {
	if p >= torrent.PriorityHigh {
		return 1
	}
	return 0
}

// field returns the value of one torrent-get field; ok is false for a field
// we do not know (left out of the answer, as Transmission does).
func (fc *fieldCtx) field(name string) (any, bool) {
	e, s := fc.e, fc.s
	switch name {
	case "id":
		return e.id, true
	case "name":
		return e.t.Name(), true
	case "hashString":
		return e.hash.String(), true
	case "status":
		return fc.status(), true
	case "percentDone":
		return fc.percentDone(), true
	case "percentComplete":
		if s.Length == 0 {
			return 0.0, true
		}
		return float64(s.PiecesHave) / float64(max(1, s.Pieces)), true
	case "metadataPercentComplete":
		if s.HasInfo {
			return 1.0, true
		}
		return 0.0, true
	case "rateDownload":
		return int64(s.DownloadRate), true
	case "rateUpload":
		return int64(s.UploadRate), true
	case "peersConnected":
		return s.Peers, true
	case "peersSendingToUs":
		// Per-peer rates are not in Stats: while bytes come in, every
		// connected peer is counted as a possible sender.
		if s.DownloadRate > 0 {
			return s.Peers, true
		}
		return 0, true
	case "peersGettingFromUs":
		if s.UploadRate > 0 {
			return s.Peers - s.Seeds, true
		}
		return 0, true
	case "webseedsSendingToUs":
		if s.DownloadRate > 0 {
			return s.PeersByNetwork["webseed"], true
		}
		return 0, true
	case "peersFrom":
		// Transmission counts connected peers by where they came from.
		from := map[string]int{"fromCache": 0, "fromDht": 0, "fromIncoming": 0, "fromLpd": 0, "fromLtep": 0, "fromPex": 0, "fromTracker": 0}
		for _, p := range fc.peers() {
			switch {
			case p.Incoming:
				from["fromIncoming"]++
			case p.Source == "dht":
				from["fromDht"]++
			case p.Source == "lsd":
				from["fromLpd"]++
			case p.Source == "pex":
				from["fromPex"]++
			case p.Source == "tracker":
				from["fromTracker"]++
			}
		}
		return from, true
	case "eta":
		switch {
		case !s.HasInfo:
			return etaUnknown, true
		case s.BytesLeft == 0 || s.DownloadRate < 1:
			return etaNotAvailable, true
		default:
			return int64(float64(s.BytesLeft) / s.DownloadRate), true
		}
	case "etaIdle":
		return etaNotAvailable, true
	case "sizeWhenDone":
		return fc.sizeWhenDone(), true
	case "leftUntilDone":
		return fc.leftUntilDone(), true
	case "desiredAvailable":
		return fc.leftUntilDone(), true
	case "totalSize":
		return s.Length, true
	case "haveValid":
		return fc.sizeWhenDone() - fc.leftUntilDone(), true
	case "haveUnchecked":
		return 0, true
	case "corruptEver":
		return s.Wasted, true
	case "downloadedEver":
		return s.DownloadedTotal, true
	case "uploadedEver":
		return s.UploadedTotal, true
	case "uploadRatio":
		if s.DownloadedTotal == 0 {
			return -1, true // TR_RATIO_NA
		}
		return float64(s.UploadedTotal) / float64(s.DownloadedTotal), true
	case "error":
		if fc.errorString() != "" {
			return errLocal, true
		}
		return errNone, true
	case "errorString":
		return fc.errorString(), true
	case "isFinished":
		return false, true // finished means "stopped at its seed ratio"; there is none
	case "isStalled":
		return !e.paused && s.HasInfo && !s.Complete && s.DownloadRate == 0, true
	case "isPrivate":
		return fc.info != nil && fc.info.Private, true
	case "addedDate":
		return e.added.Unix(), true
	case "doneDate":
		return unixOrZero(e.done), true
	case "startDate":
		return unixOrZero(e.started), true
	case "activityDate":
		if s.DownloadRate > 0 || s.UploadRate > 0 {
			return time.Now().Unix(), true
		}
		return unixOrZero(e.started), true
	case "editDate", "manualAnnounceTime":
		return 0, true
	case "dateCreated":
		return 0, true
	case "secondsDownloading", "secondsSeeding":
		return 0, true
	case "downloadDir":
		if e.dir != "" {
			return filepath.Join(fc.d.cfg.DownloadDir, e.dir), true
		}
		return fc.d.cfg.DownloadDir, true
	case "magnetLink":
		if e.magnet != "" {
			return e.magnet, true
		}
		return "magnet:?xt=urn:btih:" + e.hash.String() + "&dn=" + url.QueryEscape(e.t.Name()), true
	case "comment", "creator", "torrentFile", "primary-mime-type", "group":
		return "", true
	case "labels":
		return []string{}, true
	case "queuePosition":
		return e.id - 1, true
	case "recheckProgress":
		if s.Checking && s.Pieces > 0 {
			return float64(s.PiecesHave) / float64(s.Pieces), true
		}
		return 0.0, true
	case "pieceCount":
		return s.Pieces, true
	case "pieceSize":
		if fc.info == nil {
			return 0, true
		}
		return fc.info.PieceLength, true
	case "pieces":
		return fc.piecesBase64(), true
	case "bandwidthPriority":
		return 0, true
	case "honorsSessionLimits":
		return true, true
	case "downloadLimit", "uploadLimit", "downloadLimited", "uploadLimited":
		fc.d.mu.Lock()
		lim := e.limits
		fc.d.mu.Unlock()
		switch name {
		case "downloadLimit":
			return lim.Down, true
		case "uploadLimit":
			return lim.Up, true
		case "downloadLimited":
			return lim.DownOn, true
		}
		return lim.UpOn, true
	case "sequentialDownload":
		return false, true
	case "maxConnectedPeers":
		return fc.d.cfg.Session.MaxConns, true
	case "seedRatioMode", "seedIdleMode":
		return 2, true // TR_RATIOLIMIT_UNLIMITED
	case "seedRatioLimit":
		return 2.0, true
	case "seedIdleLimit":
		return 30, true
	case "fileCount":
		return len(fc.torrentFiles()), true
	case "files":
		return fc.filesJSON(), true
	case "fileStats":
		return fc.fileStatsJSON(), true
	case "wanted":
		files := fc.torrentFiles()
		out := make([]int, len(files))
		for i, f := range files {
			if f.Priority() != torrent.PriorityNone {
				out[i] = 1
			}
		}
		return out, true
	case "priorities":
		files := fc.torrentFiles()
		out := make([]int, len(files))
		for i, f := range files {
			out[i] = transmissionPriority(f.Priority())
		}
		return out, true
	case "trackers":
		return fc.trackers(), true
	case "trackerStats":
		return fc.trackerStats(), true
	case "trackerList":
		var b strings.Builder
		for _, tr := range fc.trackers() {
			b.WriteString(tr["announce"].(string) + "\n\n")
		}
		return b.String(), true
	case "peers":
		return fc.peersJSON(), true
	case "webseeds":
		return append([]string{}, fc.e.webSeeds...), true
	case "peer-limit":
		return fc.d.cfg.Session.MaxConns, true
	}
	return nil, false
}

// peers is the torrent's connections, asked of the engine once per request.
func (fc *fieldCtx) peers() []torrent.PeerInfo {
	if fc.conns == nil {
		fc.conns = fc.e.t.Peers()
	}
	return fc.conns
}

// peersJSON is Transmission's "peers": one object per connected peer (web
// seeds are in "webseeds"), with its flagStr letters as Transmission
// writes them.
func (fc *fieldCtx) peersJSON() []map[string]any {
	out := []map[string]any{}
	for _, p := range fc.peers() {
		if p.Network == "webseed" {
			continue
		}
		host, port := p.Addr, 0
		if h, ps, err := net.SplitHostPort(p.Addr); err == nil {
			host = h
			port, _ = strconv.Atoi(ps)
		}
		downloading := p.AmInterested && !p.PeerChoking && p.DownloadRate > 0
		uploading := p.PeerInterested && !p.AmChoking && p.UploadRate > 0
		out = append(out, map[string]any{
			"address": host, "port": port, "clientName": p.Client,
			"clientIsChoked": p.PeerChoking, "clientIsInterested": p.AmInterested,
			"peerIsChoked": p.AmChoking, "peerIsInterested": p.PeerInterested,
			"isDownloadingFrom": downloading, "isUploadingTo": uploading,
			"isEncrypted": p.Encrypted, "isIncoming": p.Incoming, "isUTP": p.Network == "utp",
			"progress": p.Progress, "rateToClient": int64(p.DownloadRate), "rateToPeer": int64(p.UploadRate),
			"bytes_to_client": p.Downloaded, "bytes_to_peer": p.Uploaded,
			"flagStr": flagStr(p, downloading, uploading),
		})
	}
	return out
}

// flagStr is Transmission's summary of a peer: D/d downloading from it (d:
// we want to but it chokes us), U/u uploading to it (u: it wants to but we
// choke it), K it unchokes us but we are not interested, ? we unchoke it but
// it is not interested, E encrypted, X found by PEX, H by DHT, L by local
// discovery, I incoming, T uTP.
func flagStr(p torrent.PeerInfo, downloading, uploading bool) string {
	var b strings.Builder
	switch {
	case downloading:
		b.WriteByte('D')
	case p.AmInterested && p.PeerChoking:
		b.WriteByte('d')
	}
	switch {
	case uploading:
		b.WriteByte('U')
	case p.PeerInterested && p.AmChoking:
		b.WriteByte('u')
	}
	if !p.PeerChoking && !p.AmInterested {
		b.WriteByte('K')
	}
	if !p.AmChoking && !p.PeerInterested {
		b.WriteByte('?')
	}
	if p.Encrypted {
		b.WriteByte('E')
	}
	switch p.Source {
	case "pex":
		b.WriteByte('X')
	case "dht":
		b.WriteByte('H')
	case "lsd":
		b.WriteByte('L')
	}
	if p.Incoming {
		b.WriteByte('I')
	}
	if p.Network == "utp" {
		b.WriteByte('T')
	}
	return b.String()
}

func unixOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

func (fc *fieldCtx) filesJSON() []map[string]any {
	if fc.info == nil {
		return []map[string]any{}
	}
	have := fc.fileBytes()
	list := fc.info.FileList()
	out := make([]map[string]any, 0, len(list))
	for i, f := range list {
		name := strings.Join(f.Path, "/")
		if fc.info.IsDir() {
			name = fc.info.BestName() + "/" + name
		}
		out = append(out, map[string]any{"name": name, "length": f.Length, "bytesCompleted": have[i]})
	}
	return out
}

func (fc *fieldCtx) fileStatsJSON() []map[string]any {
	if fc.info == nil {
		return []map[string]any{}
	}
	have := fc.fileBytes()
	files := fc.torrentFiles()
	out := make([]map[string]any, 0, len(files))
	for i, f := range files {
		out = append(out, map[string]any{"bytesCompleted": have[i], "wanted": f.Priority() != torrent.PriorityNone,
			"priority": transmissionPriority(f.Priority())})
	}
	return out
}

// piecesBase64 is Transmission's "pieces": the bitfield of verified pieces
// in base64.
func (fc *fieldCtx) piecesBase64() string {
	n := fc.s.Pieces
	b := make([]byte, (n+7)/8)
	for i := 0; i < n; i++ {
		if fc.e.t.HavePiece(i) {
			b[i/8] |= 0x80 >> (i % 8)
		}
	}
	return base64.StdEncoding.EncodeToString(b)
}

func (fc *fieldCtx) trackers() []map[string]any {
	out := []map[string]any{}
	id := 0
	for tier, urls := range fc.e.tiers {
		for _, u := range urls {
			out = append(out, map[string]any{"announce": u, "id": id, "scrape": scrapeURL(u), "sitename": siteName(u), "tier": tier})
			id++
		}
	}
	return out
}

// trackerStats is Transmission's per-tracker state, from the engine's
// announce results (Torrent.Trackers). Scrapes are not made: their fields
// say so (hasScraped false, counts from the last announce).
func (fc *fieldCtx) trackerStats() []map[string]any {
	results := map[string]torrent.TrackerInfo{}
	for _, ti := range fc.e.t.Trackers() {
		results[ti.URL] = ti
	}
	out := []map[string]any{}
	for _, tr := range fc.trackers() {
		u := tr["announce"].(string)
		ti, ok := results[u]
		if !ok {
			ti = torrent.TrackerInfo{URL: u, LastPeers: -1, Seeders: -1, Leechers: -1}
		}
		state := trackerInactive
		if ti.Used && !fc.e.paused {
			state = trackerWaiting
		}
		result := ti.LastError
		if ti.LastError == "" && ti.Announces > 0 {
			result = "Success"
		}
		out = append(out, map[string]any{"announce": u, "id": tr["id"], "tier": tr["tier"],
			"scrape": tr["scrape"], "sitename": tr["sitename"], "host": trackerHost(u),
			"announceState": state, "hasAnnounced": ti.Announces+ti.Failures > 0, "lastAnnounceResult": result,
			"lastAnnounceSucceeded": ti.Announces > 0 && ti.LastError == "", "lastAnnouncePeerCount": max(ti.LastPeers, 0),
			"seederCount": ti.Seeders, "leecherCount": ti.Leechers, "downloadCount": -1,
			"isBackup": false, "scrapeState": trackerInactive, "hasScraped": false, "lastScrapeResult": "",
			"lastAnnounceStartTime": 0, "lastAnnounceTime": unixOrZero(ti.LastAnnounce),
			"lastAnnounceTimedOut": strings.Contains(ti.LastError, "deadline exceeded"), "nextAnnounceTime": unixOrZero(ti.NextAnnounce),
			"lastScrapeStartTime": 0, "lastScrapeSucceeded": false, "lastScrapeTime": 0, "lastScrapeTimedOut": false, "nextScrapeTime": 0})
	}
	return out
}

// Transmission's tracker_state values (announceState, scrapeState).
const (
	trackerInactive = 0
	trackerWaiting  = 1
)

// scrapeURL derives a tracker's scrape URL as BEP 48 says: "announce" in
// the last path component becomes "scrape".
func scrapeURL(announce string) string {
	i := strings.LastIndex(announce, "/")
	if i < 0 || !strings.HasPrefix(announce[i+1:], "announce") {
		return ""
	}
	return announce[:i+1] + "scrape" + strings.TrimPrefix(announce[i+1:], "announce")
}

// trackerHost is Transmission's "host" of a tracker: scheme://host:port.
func trackerHost(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return ""
	}
	return p.Scheme + "://" + p.Host
}

func siteName(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return ""
	}
	return p.Hostname()
}
