"""lt.py drives libtorrent 2.0 (Debian's python3-libtorrent, the engine of qBittorrent and Deluge) as a
seeder or a downloader, for the interop tests.

    python3 lt.py seed PATH [--torrent-out FILE] [--hybrid] [--tracker URL]... [common flags]
    python3 lt.py seed-torrent TORRENT --dir DIR [common flags]
    python3 lt.py download TORRENT|MAGNET --dir DIR [--keep] [common flags]
    common flags: [--listen HOST:PORT] [--peer HOST:PORT]... [--tracker URL]... [--upload-rate BYTES]
                  [--encryption POLICY]

seed makes a torrent of PATH (a file or folder) with libtorrent's own create_torrent (v1 only, or a
v1+v2 hybrid with --hybrid) and seeds it from where it is; seed-torrent checks the data of TORRENT found in
DIR and seeds it; download fetches into DIR and exits 0 once every piece has been verified, unless --keep.
--upload-rate limits what it sends, in bytes per second, to every peer (loopback ones too, which
libtorrent otherwise exempts).

Run it with Debian's /usr/bin/python3: the apt module is not on other Pythons' paths.

Discovery is only what the test gives: no DHT, LSD, UPnP, NAT-PMP or uTP. Outgoing connections are
plaintext and incoming ones may be either, unless --encryption says otherwise: "require" (MSE with RC4
only, both ways: libtorrent's pe_forced with allowed_enc_level rc4), "prefer" (libtorrent's and
qBittorrent's default: MSE first, plain when refused; either accepted) or "off". Several connections from
one IP are allowed, since every peer of a test is on the same host.

It prints one JSON object per line on stdout: {"event":"listening","port":N}, {"event":"ready",...} when
the metadata is known (infoHash, magnetURI), {"event":"progress",...} each second, {"event":"done",...}
when every piece is there, {"event":"error","message":...} before exiting 1; a download also prints
{"event":"firstByte","ms":N} (milliseconds from adding the torrent to the first payload byte, polled every
10 ms) and {"event":"peer","ip":...,"encryption":"rc4"|"plaintext"|"none"} for each peer it trades with. libtorrent's own alerts go
to stderr, one per line, for a test's log.
"""

import json
import os
import signal
import sys
import time

import libtorrent as lt


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def log(msg):
    sys.stderr.write("lt: %s\n" % msg)
    sys.stderr.flush()


def fail(msg, code=1):
    emit({"event": "error", "message": msg})
    sys.exit(code)


def parse_args(argv):
    if len(argv) < 2 or argv[0] not in ("seed", "seed-torrent", "download"):
        fail("usage: lt.py seed|seed-torrent|download TARGET [flags]", 2)
    a = {"mode": argv[0], "target": argv[1], "peers": [], "trackers": [], "dir": None,
         "torrent_out": None, "listen": "127.0.0.1:0", "keep": False, "hybrid": False, "upload_rate": 0,
         "encryption": None}
    rest = argv[2:]
    i = 0
    while i < len(rest):
        f = rest[i]
        if f in ("--peer", "--tracker", "--dir", "--torrent-out", "--listen", "--upload-rate", "--encryption"):
            if i + 1 >= len(rest):
                fail("%s needs a value" % f, 2)
            v = rest[i + 1]
            i += 2
            if f == "--peer":
                a["peers"].append(v)
            elif f == "--tracker":
                a["trackers"].append(v)
            elif f == "--dir":
                a["dir"] = v
            elif f == "--torrent-out":
                a["torrent_out"] = v
            elif f == "--upload-rate":
                try:
                    a["upload_rate"] = int(v)
                except ValueError:
                    fail("--upload-rate wants bytes per second, got %r" % v, 2)
            elif f == "--encryption":
                if v not in ("require", "prefer", "off"):
                    fail("--encryption is require, prefer or off", 2)
                a["encryption"] = v
            else:
                a["listen"] = v
        elif f == "--keep":
            a["keep"] = True
            i += 1
        elif f == "--hybrid":
            a["hybrid"] = True
            i += 1
        else:
            fail("unknown argument %s" % f, 2)
    if a["mode"] != "seed" and not a["dir"]:
        fail("%s needs --dir DIR" % a["mode"], 2)
    return a


def split_hostport(s):
    host, _, port = s.rpartition(":")
    return host.strip("[]"), int(port)


def enc_settings(policy):
    """The settings for an --encryption policy; None keeps this script's default."""
    if policy is None:
        # Plaintext out, either in (the engine tests' setting).
        return {"out_enc_policy": int(lt.enc_policy.disabled), "in_enc_policy": int(lt.enc_policy.enabled),
                "allowed_enc_level": 3}  # both plaintext and RC4 when the other side asks
    if policy == "require":
        return {"out_enc_policy": int(lt.enc_policy.forced), "in_enc_policy": int(lt.enc_policy.forced),
                "allowed_enc_level": int(lt.enc_level.rc4), "prefer_rc4": True}
    if policy == "prefer":
        return {"out_enc_policy": int(lt.enc_policy.enabled), "in_enc_policy": int(lt.enc_policy.enabled),
                "allowed_enc_level": int(lt.enc_level.both)}
    return {"out_enc_policy": int(lt.enc_policy.disabled), "in_enc_policy": int(lt.enc_policy.disabled),
            "allowed_enc_level": int(lt.enc_level.both)}


def make_session(listen, upload_rate=0, encryption=None):
    cat = lt.alert.category_t
    mask = (cat.error_notification | cat.peer_notification | cat.status_notification |
            cat.storage_notification | cat.tracker_notification | cat.connect_notification)
    settings = {
        "listen_interfaces": listen,
        "enable_dht": False,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "enable_outgoing_utp": False,
        "enable_incoming_utp": False,
        "allow_multiple_connections_per_ip": True,
        "alert_mask": int(mask),
        # Trackers of the tests live on the loopback or in a private namespace.
        "ssrf_mitigation": False,
        "allow_idna": True,
        "announce_to_all_trackers": True,
        "user_agent": "interop-libtorrent/" + lt.__version__,
    }
    if upload_rate > 0:
        settings["upload_rate_limit"] = upload_rate
    settings.update(enc_settings(encryption))
    ses = lt.session(settings)
    if upload_rate > 0:
        # Peers on the local network are in a class of their own with no
        # limit; put every address in the global class, which has it.
        f = lt.ip_filter()
        f.add_rule("0.0.0.0", "255.255.255.255", 1 << lt.session.global_peer_class_id)
        f.add_rule("::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 1 << lt.session.global_peer_class_id)
        ses.set_peer_class_filter(f)
    return ses


def torrent_info_json(h, ti):
    ih = h.info_hashes().v1 if hasattr(h, "info_hashes") else h.info_hash()
    files = ti.files()
    return {
        "infoHash": str(ih),
        "magnetURI": lt.make_magnet_uri(ti),
        "name": ti.name(),
        "length": ti.total_size(),
        "pieceLength": ti.piece_length(),
        "files": [{"path": files.file_path(i), "length": files.file_size(i)}
                  for i in range(files.num_files())],
    }


def create(path, trackers, hybrid):
    fs = lt.file_storage()
    lt.add_files(fs, path)
    if fs.num_files() == 0:
        fail("no files in %s" % path)
    flags = 0 if hybrid else lt.create_torrent.v1_only
    ct = lt.create_torrent(fs, 0, flags)
    for tier, url in enumerate(trackers):
        ct.add_tracker(url, tier)
    ct.set_creator("libtorrent " + lt.__version__)
    lt.set_piece_hashes(ct, os.path.dirname(os.path.abspath(path)))
    return lt.bencode(ct.generate())


def main():
    a = parse_args(sys.argv[1:])
    ses = make_session(a["listen"], a["upload_rate"], a["encryption"])

    atp = lt.add_torrent_params()
    if a["mode"] == "seed":
        data = create(a["target"], a["trackers"], a["hybrid"])
        if a["torrent_out"]:
            with open(a["torrent_out"], "wb") as f:
                f.write(data)
        atp.ti = lt.torrent_info(lt.bdecode(data))
        atp.save_path = os.path.dirname(os.path.abspath(a["target"]))
    elif a["target"].startswith("magnet:"):
        atp = lt.parse_magnet_uri(a["target"])
        atp.save_path = a["dir"]
    else:
        atp.ti = lt.torrent_info(a["target"])
        atp.save_path = a["dir"]
    if a["mode"] != "seed":
        atp.trackers = list(atp.trackers) + a["trackers"]
    # Start at once (not auto-managed: the queue could hold a torrent back) and check existing data.
    atp.flags &= ~lt.torrent_flags.auto_managed
    atp.flags &= ~lt.torrent_flags.paused
    added = time.monotonic()
    h = ses.add_torrent(atp)

    stopping = []
    signal.signal(signal.SIGINT, lambda *_: stopping.append(1))
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))

    peers_added = False
    ready = False
    done = False
    last_status = 0.0
    first_byte = a["mode"] != "download"
    peers_seen = set()
    while not stopping:
        # Until the first byte comes, poll often enough to time it.
        ses.wait_for_alert(250 if first_byte else 10)
        for al in ses.pop_alerts():
            if isinstance(al, lt.listen_succeeded_alert):
                if al.socket_type == lt.socket_type_t.tcp:
                    emit({"event": "listening", "port": al.port, "address": str(al.address)})
            elif isinstance(al, lt.listen_failed_alert):
                fail("listen failed: %s" % al.message())
            elif isinstance(al, (lt.torrent_error_alert, lt.file_error_alert)):
                log(al.message())
            elif isinstance(al, (lt.peer_connect_alert, lt.peer_disconnected_alert, lt.peer_error_alert,
                                 lt.incoming_connection_alert, lt.tracker_error_alert,
                                 lt.tracker_reply_alert, lt.tracker_warning_alert,
                                 lt.metadata_received_alert, lt.metadata_failed_alert,
                                 lt.hash_failed_alert, lt.torrent_finished_alert,
                                 lt.torrent_checked_alert, lt.peer_ban_alert, lt.peer_blocked_alert)):
                log(al.message())
        st = h.status()
        if not first_byte and st.total_payload_download > 0:
            first_byte = True
            emit({"event": "firstByte", "ms": round((time.monotonic() - added) * 1000)})
        for p in h.get_peer_info():
            key = (str(p.ip[0]), p.ip[1])
            if key in peers_seen or p.flags & lt.peer_info.handshake or p.flags & lt.peer_info.connecting:
                continue
            peers_seen.add(key)
            enc = "none"
            if p.flags & lt.peer_info.rc4_encrypted:
                enc = "rc4"
            elif p.flags & lt.peer_info.plaintext_encrypted:
                enc = "plaintext"
            client = p.client.decode("utf-8", "replace") if isinstance(p.client, bytes) else p.client
            emit({"event": "peer", "ip": "%s:%d" % key, "client": client, "encryption": enc})
        if not peers_added and h.is_valid():
            for p in a["peers"]:
                h.connect_peer(split_hostport(p))
            peers_added = True
        if not ready and st.has_metadata and st.state not in (
                lt.torrent_status.checking_files, lt.torrent_status.checking_resume_data):
            ti = h.torrent_file()
            ready = True
            emit(dict({"event": "ready"}, **torrent_info_json(h, ti)))
        if ready and not done and st.is_seeding:
            done = True
            emit({"event": "done", "progress": st.progress, "downloaded": st.total_wanted_done,
                  "numPeers": st.num_peers})
            if a["mode"] == "download" and not a["keep"]:
                break
        now = time.monotonic()
        if now - last_status >= 1.0:
            last_status = now
            emit({"event": "progress", "state": str(st.state), "progress": st.progress,
                  "downloaded": st.total_wanted_done, "uploaded": st.total_payload_upload,
                  "numPeers": st.num_peers, "seeding": st.is_seeding})
    # Removing the torrent and dropping the session closes the files, so every byte is on disk.
    ses.remove_torrent(h)
    del ses
    return 0


if __name__ == "__main__":
    sys.exit(main())
