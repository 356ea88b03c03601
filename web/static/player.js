// swarmcast player: plays one file of a torrent through the streaming server
// and shows live statistics. Plain JavaScript, no framework.
'use strict';

const params = new URLSearchParams(location.search);
const infoHash = params.get('torrent');
const fileParam = params.get('file');
const $ = (id) => document.getElementById(id);

function fmtBytes(n) {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : Math.round(n)) + ' ' + units[i];
}

let mediaStarted = false;

function pickFile(files) {
  if (fileParam !== null) {
    const byIndex = files.find((f) => String(f.index) === fileParam);
    return byIndex || files.find((f) => f.path === fileParam);
  }
  const playable = files.filter((f) => /^(video|audio)\//.test(f.type));
  const pool = playable.length ? playable : files;
  return pool.reduce((a, b) => (b.length > a.length ? b : a), pool[0]);
}

function startMedia(file) {
  const kind = file.type.startsWith('audio/') ? 'audio' : 'video';
  const el = document.createElement(kind);
  el.id = 'player';
  el.controls = true;
  el.autoplay = params.get('autoplay') !== '0';
  el.muted = params.get('muted') === '1';
  el.preload = 'auto';
  el.src = file.url;
  el.setAttribute('aria-label', file.name);
  $('media').replaceChildren(el);
  $('title').textContent = file.name;
  // Counters the tests (and curious users) read: stalls and plays.
  window.swarmcastPlayer = { waiting: 0, playing: 0, errors: 0 };
  el.addEventListener('waiting', () => window.swarmcastPlayer.waiting++);
  el.addEventListener('playing', () => window.swarmcastPlayer.playing++);
  el.addEventListener('error', () => { window.swarmcastPlayer.errors++; $('status').textContent = 'The browser cannot play this file.'; });
}

function drawPieces(map) {
  const c = $('pieces');
  const ctx = c.getContext('2d');
  ctx.clearRect(0, 0, c.width, c.height);
  if (!map) return;
  const w = c.width / map.length;
  ctx.fillStyle = '#2b7a3d';
  for (let i = 0; i < map.length; i++) {
    if (map[i] === '1') ctx.fillRect(Math.floor(i * w), 0, Math.ceil(w), c.height);
  }
}

async function refresh() {
  if (!infoHash) {
    $('status').textContent = 'No torrent given: open /player.html?torrent=<info hash>.';
    return;
  }
  let t;
  try {
    const res = await fetch('/api/torrents/' + encodeURIComponent(infoHash), { cache: 'no-store' });
    if (!res.ok) throw new Error(res.status + ' ' + res.statusText);
    t = await res.json();
  } catch (e) {
    $('status').textContent = 'Cannot reach the server: ' + e.message;
    return;
  }
  if (!t.hasInfo) {
    $('status').textContent = 'Fetching the torrent’s metadata from peers…';
    return;
  }
  if (!mediaStarted && t.files.length) {
    const f = pickFile(t.files);
    if (f) { startMedia(f); mediaStarted = true; }
    $('files').replaceChildren(...t.files.map((f) => {
      const li = document.createElement('li');
      const a = document.createElement('a');
      a.href = '/player.html?torrent=' + infoHash + '&file=' + f.index;
      a.textContent = f.path + ' (' + fmtBytes(f.length) + ')';
      li.append(a);
      return li;
    }));
  }
  const done = t.bytesWanted ? (t.bytesWanted - t.bytesLeft) / t.bytesWanted : 0;
  $('status').textContent = t.error ? 'Stopped: ' + t.error : t.complete ? 'Complete.' : 'Streaming…';
  $('progress').textContent = (100 * done).toFixed(1) + '% of ' + fmtBytes(t.bytesWanted);
  $('down').textContent = fmtBytes(t.downloadSpeed) + '/s';
  $('up').textContent = fmtBytes(t.uploadSpeed) + '/s';
  $('peers').textContent = t.numPeers + ' (' + Object.entries(t.peersByKind || {}).map(([k, v]) => v + ' ' + k).join(', ') + ')';
  $('peershare').textContent = t.downloadedTotal ? t.servedByPeersPercent.toFixed(0) + '%' : '–';
  $('sources').textContent = Object.entries(t.downloaded || {}).map(([k, v]) => k + ' ' + fmtBytes(v)).join(', ') || '–';
  drawPieces(t.piecesMap);
}

refresh();
setInterval(refresh, 1000);
