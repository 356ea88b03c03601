#!/usr/bin/env bash
# Regenerates sample.webm, the video `swarmcast demo` serves: 24 s of
# ffmpeg's test pattern with a running clock and a 440 Hz tone, VP8 and
# Vorbis in WebM (every browser plays it), a keyframe each second (so a
# seek lands within a second), the index (Cues) at the front (so a player
# streaming it needs no request to the file's end before it can seek).
# We made it from ffmpeg's own test sources: CC0 (see LICENSE).
# Needs ffmpeg (apt install ffmpeg). Keep the result under 4 MB.
set -euo pipefail
cd "$(dirname "$0")"
ffmpeg -hide_banner -loglevel error -y \
  -f lavfi -i "testsrc=size=640x360:rate=30:duration=24" \
  -f lavfi -i "sine=frequency=440:beep_factor=4:sample_rate=48000:duration=24" \
  -c:v libvpx -b:v 640k -minrate 640k -maxrate 640k -bufsize 640k -undershoot-pct 0 -overshoot-pct 0 -g 30 -keyint_min 30 -deadline good -cpu-used 4 \
  -c:a libvorbis -b:a 64k -ac 1 -qmax 63 \
  -cues_to_front 1 -reserve_index_space 4096 \
  -metadata title="swarmcast demo (ffmpeg testsrc, CC0)" \
  sample.webm
ls -l sample.webm
