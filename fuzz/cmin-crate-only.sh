#!/usr/bin/env bash
# Minimises corpus/<target> to the hand-made seeds (gen_seeds.py) plus the
# fewest inputs that keep every coverage edge of the *socketeer crates*
# (socketeer-ws, socketeer-engineio, socketeer, socketeer-redis) reached by
# the corpus and by any extra directories given. Unlike `cargo fuzz cmin`,
# dependencies (http, httparse, bytes, serde_json, zlib-rs, ...) are not
# instrumented and hit counts are ignored, which keeps the committed corpus
# small (the handshake target otherwise keeps hundreds of inputs for edges
# inside the http crate's header tables).
#
# Usage (from fuzz/): ./cmin-crate-only.sh [target...]
# After `scripts/fuzz --long`, the inputs it found
# (target/long-corpus/<target>) are merged in too.
set -euo pipefail

if [ "${CMIN_WRAPPER_MODE:-}" = 1 ]; then
  # RUSTC_WRAPPER mode: strip SanitizerCoverage from all crates but ours.
  rustc="$1"; shift
  name="" prev=""
  for a in "$@"; do
    [ "$prev" = "--crate-name" ] && name="$a"
    prev="$a"
  done
  case "$name" in
    socketeer_ws | socketeer_engineio | socketeer | socketeer_redis) exec "$rustc" "$@" ;;
  esac
  args=()
  for a in "$@"; do
    case "$a" in
      -Cpasses=sancov-module | -Cllvm-args=-sanitizer-coverage*) ;;
      *) args+=("$a") ;;
    esac
  done
  exec "$rustc" "${args[@]}"
fi

cd "$(dirname "$0")"
targets=("$@")
[ ${#targets[@]} -gt 0 ] ||
  targets=(frame_decoder handshake_request engineio_payload socketio_packet redis_message)
tdir=target/crate-only
CMIN_WRAPPER_MODE=1 RUSTC_WRAPPER="$PWD/cmin-crate-only.sh" FUZZ_TARGET_DIR="$tdir" \
  ../scripts/fuzz --build-only "${targets[@]}"
host=$(rustc -vV | sed -n 's/^host: //p')
seeds=$(mktemp -d)
python3 gen_seeds.py --out "$seeds"
for t in "${targets[@]}"; do
  out=$(mktemp -d)
  cp "$seeds/$t"/* "$out/"
  extra=()
  [ -d "target/long-corpus/$t" ] && extra+=("target/long-corpus/$t")
  "$tdir/$host/release/$t" -merge=1 -use_counters=0 "$out" "corpus/$t" "${extra[@]}" 2>&1 |
    grep -E '^MERGE-OUTER: [0-9]+ new files'
  rm -rf "corpus/$t"
  mv "$out" "corpus/$t"
  chmod 755 "corpus/$t"
  echo "$t: $(ls "corpus/$t" | wc -l) files, $(cat "corpus/$t"/* | wc -c) bytes"
done
rm -rf "$seeds"
