package daemon

import (
	"encoding/json"
	"sort"
	"strings"
)

// sessionGet answers session-get: the settings Transmission reports, with
// swarmcast's true values where it has the setting and Transmission's
// "off" where it does not (no queues, no blocklist, no alternative speeds).
func (d *Daemon) sessionGet(fields []string) map[string]any {
	free, _, _ := diskSpace(d.cfg.DownloadDir)
	s := d.cfg.Session
	d.mu.Lock()
	sp := d.speed
	d.mu.Unlock()
	all := map[string]any{
		"alt-speed-down": 50, "alt-speed-enabled": false, "alt-speed-time-begin": 540, "alt-speed-time-day": 127,
		"alt-speed-time-enabled": false, "alt-speed-time-end": 1020, "alt-speed-up": 50,
		"blocklist-enabled": false, "blocklist-size": 0, "blocklist-url": "",
		"cache-size-mb":           0,
		"config-dir":              d.cfg.DataDir,
		"dht-enabled":             s.DHT,
		"download-dir":            d.cfg.DownloadDir,
		"download-dir-free-space": free,
		"download-queue-enabled":  false, "download-queue-size": 0,
		"encryption":         "tolerated",
		"idle-seeding-limit": 30, "idle-seeding-limit-enabled": false,
		"incomplete-dir": d.cfg.DownloadDir, "incomplete-dir-enabled": false,
		"lpd-enabled":               s.LSD,
		"peer-limit-global":         s.MaxConns * max(1, len(d.entries())),
		"peer-limit-per-torrent":    s.MaxConns,
		"peer-port":                 d.cfg.PeerPort,
		"peer-port-random-on-start": false,
		"pex-enabled":               true,
		"port-forwarding-enabled":   false,
		"queue-stalled-enabled":     false, "queue-stalled-minutes": 30,
		"rename-partial-files":         false,
		"rpc-version":                  rpcVersion,
		"rpc-version-minimum":          rpcVersionMinimum,
		"rpc-version-semver":           rpcSemver,
		"script-torrent-done-enabled":  false,
		"script-torrent-done-filename": "",
		"seed-queue-enabled":           false, "seed-queue-size": 0,
		"seedRatioLimit": 2, "seedRatioLimited": false,
		"session-id":                   d.session,
		"speed-limit-down":             sp.Down,
		"speed-limit-down-enabled":     sp.DownOn,
		"speed-limit-up":               sp.Up,
		"speed-limit-up-enabled":       sp.UpOn,
		"start-added-torrents":         true,
		"trash-original-torrent-files": false,
		"units": map[string]any{
			"speed-units": []string{"kB/s", "MB/s", "GB/s", "TB/s"}, "speed-bytes": 1000,
			"size-units": []string{"kB", "MB", "GB", "TB"}, "size-bytes": 1000,
			"memory-units": []string{"KiB", "MiB", "GiB", "TiB"}, "memory-bytes": 1024,
		},
		"utp-enabled": false,
		// Clients read the version's leading number to decide what the
		// server speaks: 3.00 is the protocol answered here.
		"version": "3.00 (swarmcast " + d.cfg.Version + ")",
	}
	if len(fields) == 0 {
		return all
	}
	out := make(map[string]any, len(fields))
	for _, f := range fields {
		if v, ok := all[f]; ok {
			out[f] = v
		}
	}
	return out
}

// sessionSet is session-set. Settings are fixed at start by flags; a value
// equal to the current one is accepted (clients send whole forms), any
// change is refused by name.
func (d *Daemon) sessionSet(raw json.RawMessage) error {
	var a map[string]json.RawMessage
	if err := json.Unmarshal(raw, &a); err != nil {
		return rpcErrorf("session-set: %v", err)
	}
	cur := d.sessionGet(nil)
	var refused []string
	var limits limitsSet
	for k, v := range a {
		if ok, err := limits.take("session-set", sessionLimitKeys, k, v); err != nil {
			return err
		} else if ok {
			delete(a, k) // a change, not compared below
		}
	}
	for k, v := range a {
		have, ok := cur[k]
		if !ok {
			refused = append(refused, k)
			continue
		}
		hb, _ := json.Marshal(have)
		var x, y any
		json.Unmarshal(hb, &x)
		json.Unmarshal(v, &y)
		if hj, vj := mustJSON(x), mustJSON(y); hj != vj {
			refused = append(refused, k)
		}
	}
	if len(refused) > 0 {
		sort.Strings(refused)
		return rpcErrorf("session-set: cannot change %s while running: swarmcast serve takes its settings from its flags (speed-limit-down/up and their -enabled can be changed)", strings.Join(refused, ", "))
	}
	if limits.any() {
		d.mu.Lock()
		d.speed = d.speed.with(limits)
		sp := d.speed
		d.mu.Unlock()
		sp.applyClient(d.cfg.Client)
	}
	return nil
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// sessionStats answers session-stats.
func (d *Daemon) sessionStats() map[string]any {
	var down, up float64
	active, paused := 0, 0
	entries := d.entries()
	for _, e := range entries {
		s := e.snapshot()
		down += s.DownloadRate
		up += s.UploadRate
		if e.paused {
			paused++
		} else if s.DownloadRate > 0 || s.UploadRate > 0 {
			active++
		}
	}
	d.mu.Lock()
	cur, cum := d.currentLocked(), d.cumulativeLocked()
	d.mu.Unlock()
	stats := func(c cumulative) map[string]any {
		return map[string]any{"uploadedBytes": c.UploadedBytes, "downloadedBytes": c.DownloadedBytes,
			"filesAdded": c.FilesAdded, "sessionCount": c.SessionCount, "secondsActive": c.SecondsActive}
	}
	return map[string]any{
		"activeTorrentCount": active, "pausedTorrentCount": paused, "torrentCount": len(entries),
		"downloadSpeed": int64(down), "uploadSpeed": int64(up),
		"cumulative-stats": stats(cum), "current-stats": stats(cur),
	}
}
