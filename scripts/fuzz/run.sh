#!/usr/bin/env bash
# Builds the libFuzzer targets of Fuzz/ (address sanitizer on every Swift module, the library's
# included) and runs each one on its committed seed corpus, one target after the other.
#
#   scripts/fuzz/run.sh                          # every target, 10^6 executions each
#   FUZZ_LIMIT=-max_total_time=30 scripts/fuzz/run.sh FuzzGzip FuzzIDX
#   FUZZ_CONFIG=release FUZZ_SANITIZE=fuzzer FUZZ_SCRATCH=Fuzz/.build-release scripts/fuzz/run.sh
#                                                # optimised and ~10x faster, but no ASan
#
# The default build is debug (-Onone): under -sanitize=fuzzer,address it builds in minutes,
# where the optimised sanitized build takes far longer. A run fails on a crash, a sanitizer
# report, an input slower than -timeout seconds, more than 1 GiB resident, or any single
# allocation over 1 GiB (-malloc_limit_mb needs the ASan allocator); the input is saved under
# Fuzz/.build/artifacts/. Work corpora (what the fuzzer found, shared by every build) stay under
# Fuzz/.build/corpus/, logs in Fuzz/.build/<Target>.<config>-<sanitizers>.log. FUZZ_SCRATCH is the
# build folder (one per config, so switching does not rebuild).
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="/opt/swift/usr/bin:$PATH"
# One or more libFuzzer flags, e.g. "-runs=1000000 -max_total_time=600" (whichever comes first).
read -r -a LIMIT <<< "${FUZZ_LIMIT:--runs=1000000}"
CONFIG="${FUZZ_CONFIG:-debug}"
SANITIZE="${FUZZ_SANITIZE:-fuzzer,address}"
SCRATCH="${FUZZ_SCRATCH:-Fuzz/.build}"
TARGETS=(FuzzSafetensors FuzzTrainingCheckpoint FuzzIDX FuzzGzip FuzzCIFAR FuzzCheckpointModel FuzzTorchFile)
if [ $# -gt 0 ]; then TARGETS=("$@"); fi
FLAGS=(-c "$CONFIG" --package-path Fuzz --scratch-path "$SCRATCH" -Xswiftc "-sanitize=$SANITIZE")
# FUZZ_SKIP_BUILD=1 runs the binaries already built (e.g. to fuzz longer without a rebuild).
if [ -z "${FUZZ_SKIP_BUILD:-}" ]; then swift build "${FLAGS[@]}" >&2; fi
BIN="$(swift build "${FLAGS[@]}" --show-bin-path)"
mkdir -p Fuzz/.build/artifacts
status=0
for t in "${TARGETS[@]}"; do
  work="Fuzz/.build/corpus/$t"
  mkdir -p "$work"
  # Inputs up to 16 KiB: room for every seed (the CIFAR ones are 3 records); the .pth seeds
  # (a zip of pickle + storages) go up to 23 KiB.
  maxlen=16384
  [ "$t" = FuzzTorchFile ] && maxlen=32768
  echo "== $t (${LIMIT[*]}, -c $CONFIG -sanitize=$SANITIZE)" >&2
  log="Fuzz/.build/$t.$CONFIG-${SANITIZE//,/-}.log"
  start=$(date +%s)
  set +e
  (
  # -malloc_limit_mb needs ASan's allocator. Without it, cap the address space instead: the
  # process needs ~130 MB of it, so any single allocation much over 1 GiB fails, and Swift
  # stops on a failed allocation (a crash libFuzzer reports). -rss_limit_mb works either way.
  if [[ "$SANITIZE" != *address* ]]; then ulimit -v $(( (1024 + 384) * 1024 )); fi
  exec "$BIN/$t" "$work" "Fuzz/Corpus/$t" "${LIMIT[@]}" -rss_limit_mb=1024 -malloc_limit_mb=1024 -timeout=10 \
      -max_len=$maxlen -print_final_stats=1 -artifact_prefix="Fuzz/.build/artifacts/$t-" >"$log" 2>&1
  )
  rc=$?
  set -e
  grep -E "^(#[0-9]+[[:space:]]+(DONE|INITED)|Done [0-9]+ runs|stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)|==[0-9]+==ERROR|SUMMARY)" "$log" >&2 || true
  echo "wall time: $(( $(date +%s) - start )) s; work corpus: $(ls "$work" | wc -l) files" >&2
  if [ $rc -ne 0 ]; then echo "FAILED: $t (exit $rc, see $log)" >&2; status=1; fi
done
exit $status
