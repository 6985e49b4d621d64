#!/usr/bin/env bash
# Builds the libFuzzer harnesses (clang, ASan + UBSan + libFuzzer) in their
# own build directory and runs them.
#
#   tests/fuzz/run.sh SECONDS [HARNESS...]  fuzz each harness for SECONDS, one
#                                           after another (one process); new inputs
#                                           go to BUILD/corpus/<harness>, crashes
#                                           to BUILD/crashes/; the final stats
#                                           line of each run is printed
#   tests/fuzz/run.sh --replay [HARNESS...] run every committed corpus file once;
#                                           exit non-zero on any crash
#
# HARNESS names: safetensors json conll srl glue tok_load tok_encode squad
# config serve (default: all). FUZZ_BUILD names the build directory (default
# build-fuzz), CC the compiler (default clang).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build="${FUZZ_BUILD:-build-fuzz}"
case "$build" in /*) ;; *) build="$root/$build" ;; esac
all=(safetensors json conll srl glue tok_load tok_encode squad config serve)

mode="${1:-}"
[ -n "$mode" ] || { sed -n '2,16p' "$0"; exit 2; }
shift
harnesses=("$@")
[ ${#harnesses[@]} -gt 0 ] || harnesses=("${all[@]}")

if [ ! -f "$build/build.ninja" ]; then
  CC="${CC:-clang}" meson setup "$build" "$root" -Dfuzz=true -Dbuildtype=debugoptimized \
    -Db_sanitize=address,undefined -Db_lundef=false -Dc_args=-fsanitize=fuzzer-no-link >/dev/null
fi
targets=()
for h in "${harnesses[@]}"; do targets+=("tests/fuzz/fuzz_$h"); done
ninja -C "$build" "${targets[@]}" >/dev/null

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:allocator_may_return_null=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
export OMP_NUM_THREADS=1

status=0
for h in "${harnesses[@]}"; do
  bin="$build/tests/fuzz/fuzz_$h"
  seeds="$here/corpus/$h"
  if [ "$mode" = "--replay" ]; then
    n=$(find "$seeds" -type f | wc -l)
    if "$bin" -runs=0 "$seeds" >"$build/replay_$h.log" 2>&1; then
      echo "fuzz_$h: $n corpus files replayed, no crash"
    else
      echo "fuzz_$h: CRASH replaying $seeds (log: $build/replay_$h.log)"
      tail -40 "$build/replay_$h.log"
      status=1
    fi
  else
    work="$build/corpus/$h"
    mkdir -p "$work" "$build/crashes" "$build/logs"
    log="$build/logs/$h.log"
    start=$(date +%s)
    if "$bin" -max_total_time="$mode" -timeout=20 -print_final_stats=1 \
         -artifact_prefix="$build/crashes/$h-" "$work" "$seeds" >"$log" 2>&1; then
      res=ok
    else
      res="CRASH (see $log)"
      status=1
    fi
    last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
    echo "fuzz_$h: $res, $(( $(date +%s) - start )) s: $last"
  fi
done
exit $status
