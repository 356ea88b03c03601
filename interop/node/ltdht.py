"""ltdht.py drives libtorrent 2.0's DHT (Debian's python3-libtorrent) for the DHT interop tests: a
bootstrap node, a seeder that announces to the DHT, or a downloader that finds its peers there.

    python3 ltdht.py node [--listen HOST:PORT]
    python3 ltdht.py seed PATH --dht-bootstrap HOST:PORT [--listen HOST:PORT]
    python3 ltdht.py download MAGNET --dir DIR --dht-bootstrap HOST:PORT [--listen HOST:PORT]

The DHT is the only discovery: no tracker, peer address, LSD, UPnP, NAT-PMP or uTP. On loopback,
libtorrent's DHT needs dht_restrict_routing_ips and dht_restrict_search_ips off (every node shares one
IP) and the bootstrap node given both as dht_bootstrap_nodes and with add_dht_node. The session settings
otherwise are lt.py's (plaintext out, either in).

It prints JSON lines on stdout like lt.py: {"event":"listening","port":N} (the DHT's UDP port is the
same), {"event":"ready",...} with the info hash and magnet link, {"event":"done",...} when every piece
is there (a downloader then exits 0), {"event":"peers","count":N} each time the DHT answers a lookup with
peers, and {"event":"error",...} before exiting 1. libtorrent's DHT and peer alerts go to stderr.
"""

import os
import signal
import sys
import time

import libtorrent as lt

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lt as base  # noqa: E402  (lt.py beside this file: session settings and helpers)

emit, log, fail = base.emit, base.log, base.fail


def parse_args(argv):
    if not argv or argv[0] not in ("node", "seed", "download"):
        fail("usage: ltdht.py node|seed|download [TARGET] [flags]", 2)
    a = {"mode": argv[0], "target": None, "dir": None, "listen": "127.0.0.1:0", "bootstrap": []}
    rest = argv[1:]
    if a["mode"] != "node":
        if not rest:
            fail("%s needs a target" % a["mode"], 2)
        a["target"], rest = rest[0], rest[1:]
    i = 0
    while i < len(rest):
        f = rest[i]
        if f not in ("--dir", "--listen", "--dht-bootstrap") or i + 1 >= len(rest):
            fail("bad argument %s" % f, 2)
        v = rest[i + 1]
        i += 2
        if f == "--dir":
            a["dir"] = v
        elif f == "--listen":
            a["listen"] = v
        else:
            a["bootstrap"].append(v)
    if a["mode"] == "download" and not a["dir"]:
        fail("download needs --dir DIR", 2)
    if a["mode"] != "node" and not a["bootstrap"]:
        fail("%s needs --dht-bootstrap HOST:PORT" % a["mode"], 2)
    return a


def main():
    a = parse_args(sys.argv[1:])
    ses = base.make_session(a["listen"])
    cat = lt.alert.category_t
    ses.apply_settings({
        "enable_dht": True,
        "dht_bootstrap_nodes": ",".join(a["bootstrap"]),
        "dht_restrict_routing_ips": False,
        "dht_restrict_search_ips": False,
        "dht_ignore_dark_internet": False,
        "dht_prefer_verified_node_ids": False,
        "alert_mask": int(cat.error_notification | cat.peer_notification | cat.status_notification |
                          cat.storage_notification | cat.connect_notification | cat.dht_notification),
    })
    for b in a["bootstrap"]:
        ses.add_dht_node(base.split_hostport(b))

    h = None
    if a["mode"] == "seed":
        atp = lt.add_torrent_params()
        atp.ti = lt.torrent_info(lt.bdecode(base.create(a["target"], [], False)))
        atp.save_path = os.path.dirname(os.path.abspath(a["target"]))
    elif a["mode"] == "download":
        atp = lt.parse_magnet_uri(a["target"])
        atp.save_path = a["dir"]
    if a["mode"] != "node":
        atp.flags &= ~lt.torrent_flags.auto_managed
        atp.flags &= ~lt.torrent_flags.paused
        h = ses.add_torrent(atp)

    stopping = []
    signal.signal(signal.SIGINT, lambda *_: stopping.append(1))
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    ready = done = False
    last_announce = 0.0
    started = time.monotonic()
    while not stopping:
        ses.wait_for_alert(250)
        for al in ses.pop_alerts():
            if isinstance(al, lt.listen_succeeded_alert):
                if al.socket_type == lt.socket_type_t.tcp:
                    emit({"event": "listening", "port": al.port, "address": str(al.address)})
            elif isinstance(al, lt.listen_failed_alert):
                fail("listen failed: %s" % al.message())
            elif isinstance(al, lt.dht_reply_alert):
                emit({"event": "peers", "count": al.num_peers})
                log(al.message())
            elif isinstance(al, (lt.dht_announce_alert, lt.dht_get_peers_alert, lt.dht_bootstrap_alert,
                                 lt.peer_connect_alert, lt.peer_disconnected_alert,
                                 lt.peer_error_alert, lt.incoming_connection_alert,
                                 lt.metadata_received_alert, lt.torrent_finished_alert,
                                 lt.torrent_error_alert)):
                log(al.message())
        if h is None:
            continue
        st = h.status()
        # Announce (and look up) again every 2 s while downloading, and for a seed's first 30 s: the
        # first announce may come before the bootstrap node answered.
        now = time.monotonic()
        if (not done or now - started < 30) and now - last_announce >= 2.0:
            last_announce = now
            h.force_dht_announce()
        if not ready and st.has_metadata and st.state not in (
                lt.torrent_status.checking_files, lt.torrent_status.checking_resume_data):
            ready = True
            emit(dict({"event": "ready"}, **base.torrent_info_json(h, h.torrent_file())))
        if ready and not done and st.is_seeding:
            done = True
            emit({"event": "done", "progress": st.progress, "downloaded": st.total_wanted_done,
                  "numPeers": st.num_peers})
            if a["mode"] == "download":
                break
    if h is not None:
        ses.remove_torrent(h)
    del ses
    return 0


if __name__ == "__main__":
    sys.exit(main())
