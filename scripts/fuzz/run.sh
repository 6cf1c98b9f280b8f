#!/usr/bin/env bash
# Builds the libFuzzer targets of Fuzz/ (address sanitizer on every Swift module, the library's
# included) and runs each one on its committed seed corpus.
#
#   scripts/fuzz/run.sh                          # every target, 10^6 executions each
#   FUZZ_LIMIT=-max_total_time=30 scripts/fuzz/run.sh FuzzGzip FuzzIDX
#
# A run fails on a crash, a sanitizer report, an input slower than -timeout seconds, more than
# 1 GiB resident, or any single allocation over 1 GiB; the input is saved under
# Fuzz/.build/artifacts/. Work corpora (what the fuzzer found) stay under Fuzz/.build/corpus/.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="/opt/swift/usr/bin:$PATH"
LIMIT="${FUZZ_LIMIT:--runs=1000000}"
TARGETS=(FuzzSafetensors FuzzTrainingCheckpoint FuzzIDX FuzzGzip FuzzCIFAR FuzzCheckpointModel)
if [ $# -gt 0 ]; then TARGETS=("$@"); fi
FLAGS=(-c release --package-path Fuzz --scratch-path Fuzz/.build -Xswiftc -sanitize=fuzzer,address)
swift build "${FLAGS[@]}" >&2
BIN="$(swift build "${FLAGS[@]}" --show-bin-path)"
mkdir -p Fuzz/.build/artifacts
status=0
for t in "${TARGETS[@]}"; do
  work="Fuzz/.build/corpus/$t"
  mkdir -p "$work"
  echo "== $t ($LIMIT)" >&2
  # Inputs up to 16 KiB: room for every seed (the CIFAR ones are 3 records).
  set +e
  "$BIN/$t" "$work" "Fuzz/Corpus/$t" "$LIMIT" -rss_limit_mb=1024 -malloc_limit_mb=1024 -timeout=10 \
      -max_len=16384 -print_final_stats=1 -artifact_prefix="Fuzz/.build/artifacts/$t-" >"Fuzz/.build/$t.log" 2>&1
  rc=$?
  set -e
  grep -E "^(#[0-9]+ +(DONE|INITED)|stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)|==[0-9]+==ERROR|SUMMARY)" "Fuzz/.build/$t.log" >&2 || true
  if [ $rc -ne 0 ]; then echo "FAILED: $t (exit $rc, see Fuzz/.build/$t.log)" >&2; status=1; fi
done
exit $status
