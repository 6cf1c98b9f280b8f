#!/usr/bin/env bash
# SwiftNN against PyTorch CPU, side by side in one run: the numbers behind the README's table and
# issue 10's targets (SmallCNN training ≤ 0.75× PyTorch's wall time at 1 and 2 threads; MLP ≥ 1.5×
# faster; SmallCNN step ≤ 1.25× / 1.35× its compute floor).
#
#     scripts/bench/compare_cnn.sh              # everything below (≈ 10 min on a quiet 2-core machine,
#                                               # plus ≈ 25 min for Fashion-MNIST when installed)
#     FASHION_EPOCHS=1 scripts/bench/compare_cnn.sh   # shorter Fashion-MNIST runs
#     SKIP_FASHION=1 THREADS="2" scripts/bench/compare_cnn.sh
#     MNIST_PAIRS=3 scripts/bench/compare_cnn.sh      # each bundled-MNIST pair three times, median ratio
#     FASHION_PAIRS=3 scripts/bench/compare_cnn.sh    # the same for the Fashion-MNIST pairs
#
# What it runs, for each thread count in $THREADS (default "1 2"), SwiftNN first and PyTorch right
# after it, so that both see the same machine state:
#   1. `swiftnn bench train` and scripts/bench/torch_train_step.py: one training step of the MLP
#      (batch 128) and of SmallCNN (batch 64, 3×32×32, AdamW), median time vs the GEMM floor; then
#      the ResNet steps (ResNet-18 on 3×32×32, ResNet-18 and ResNet-50 at 224×224; fewer repeats,
#      ≈ 3 min per thread count).
#   2. `swiftnn train --model cnn --epochs 5` (defaults, monitor included) and the same recipe in PyTorch (torch_recipe.py) on the
#      bundled MNIST subset (10,000 training images).
#   3. `swiftnn train` (MLP, 15 epochs) and PyTorch's MLP recipe.
#   4. When /usr/share/datasets/fashion-mnist exists (Debian package dataset-fashion-mnist; 60,000
#      images): SmallCNN for $FASHION_EPOCHS epochs (default 5) on it, both normalising with the
#      training split's statistics (`--data` in swiftnn, `--own-stats` in PyTorch).
# The final table gives wall times and the ratio SwiftNN / PyTorch (below 1: SwiftNN is faster).
#
# Timings are only meaningful on an otherwise idle machine: PyTorch's OpenMP threads spin when the
# cores are shared, which distorts its times far more than SwiftNN's. The load average is printed
# before every pair; compare ratios from one run, never times from different runs.
#
# Environment: PYTHON (default /work/venv/bin/python, a torch 2.x CPU install), TORCH_RECIPE (the
# tutorial's recipe in PyTorch; default /work/shared/tools/torch_recipe.py), SWIFT_FLAGS (extra
# flags for the release build, e.g. "-Xswiftc -target-cpu -Xswiftc native"; default none: the
# plain `swift run -c release` users run).
set -euo pipefail

cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-/work/venv/bin/python}
TORCH_RECIPE=${TORCH_RECIPE:-/work/shared/tools/torch_recipe.py}
THREADS=${THREADS:-"1 2"}
FASHION_DIR=${FASHION_DIR:-/usr/share/datasets/fashion-mnist}
FASHION_EPOCHS=${FASHION_EPOCHS:-5}
MNIST_PAIRS=${MNIST_PAIRS:-1}
FASHION_PAIRS=${FASHION_PAIRS:-1}
MNIST_DIR=Sources/Data/Resources/mnist-10k
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

for f in "$PYTHON" "$TORCH_RECIPE"; do
    [ -e "$f" ] || { echo "missing $f (set PYTHON / TORCH_RECIPE)" >&2; exit 1; }
done

# shellcheck disable=SC2086
swift build -c release --product swiftnn ${SWIFT_FLAGS:-} >/dev/null
SWIFTNN="$(swift build -c release --show-bin-path ${SWIFT_FLAGS:-})/swiftnn"

load() { cut -d' ' -f1-3 /proc/loadavg; }
echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $("$PYTHON" -c 'import torch; print("torch", torch.__version__)')"
echo

ROWS=()
# run_pair LABEL THREADS "swiftnn args" "torch recipe args" [PAIRS]
# PAIRS (default 1) runs the pair that many times, SwiftNN then PyTorch each time; the row lists
# every pair's times and gives the median of the pairs' ratios (a machine that drifts by ±10 %
# between minutes moves a single pair's ratio by as much).
run_pair() {
    local label=$1 t=$2 sargs=$3 targs=$4 pairs=${5:-1} s p i ss="" ps="" ratios=""
    for ((i = 1; i <= pairs; i++)); do
        echo "== $label, $t thread(s), pair $i of $pairs, load average $(load)"
        # shellcheck disable=SC2086
        "$SWIFTNN" train $sargs --threads "$t" --out "$OUT/run" >"$OUT/s.log" 2>&1 \
            || { cat "$OUT/s.log"; exit 1; }
        s=$(sed -n 's/.*| \([0-9.]*\) s | saved.*/\1/p' "$OUT/s.log" | tail -1)
        rm -rf "$OUT/run"
        # shellcheck disable=SC2086
        "$PYTHON" "$TORCH_RECIPE" $targs --threads "$t" >"$OUT/p.log" 2>&1 || { cat "$OUT/p.log"; exit 1; }
        p=$(sed -n 's/.*wall=\([0-9.]*\)s.*/\1/p' "$OUT/p.log" | tail -1)
        echo "   swiftnn: $(grep 'Best val' "$OUT/s.log")"
        echo "   pytorch: $(grep RESULT "$OUT/p.log")"
        ss="${ss:+$ss / }$s s"; ps="${ps:+$ps / }$p s"
        ratios="$ratios $(awk -v a="$s" -v b="$p" 'BEGIN { printf "%.4f", a / b }')"
    done
    local median
    median=$(printf '%s\n' $ratios | sort -n | awk '{ r[NR] = $1 } END { m = NR % 2 ? r[(NR + 1) / 2] : (r[NR / 2] + r[NR / 2 + 1]) / 2; printf "%.2f×", m }')
    [ "$pairs" -gt 1 ] && median="$median (median of $pairs)"
    ROWS+=("$(printf '| %s | %s | %s | %s | %s |' "$label" "$t" "$ss" "$ps" "$median")")
}

for t in $THREADS; do
    echo "== training step vs its compute floor, $t thread(s), load average $(load)"
    "$SWIFTNN" bench train --threads "$t" --repeats 20 --only mlp
    "$SWIFTNN" bench train --threads "$t" --repeats 20 --only cnn
    "$PYTHON" scripts/bench/torch_train_step.py --threads "$t" --repeats 20 --only mlp
    "$PYTHON" scripts/bench/torch_train_step.py --threads "$t" --repeats 20 --only cnn
    "$SWIFTNN" bench train --threads "$t" --repeats 8 --only resnet
    "$PYTHON" scripts/bench/torch_train_step.py --threads "$t" --repeats 8 --only resnet
    echo
done

for t in $THREADS; do
    run_pair "SmallCNN, bundled MNIST, 5 epochs" "$t" "--model cnn --epochs 5" "$MNIST_DIR --model cnn --epochs 5" "$MNIST_PAIRS"
    run_pair "MLP, bundled MNIST, 15 epochs" "$t" "--epochs 15" "$MNIST_DIR --model mlp --epochs 15" "$MNIST_PAIRS"
    if [ -d "$FASHION_DIR" ] && [ -z "${SKIP_FASHION:-}" ]; then
        run_pair "SmallCNN, Fashion-MNIST 60k, $FASHION_EPOCHS epochs" "$t" \
            "--model cnn --epochs $FASHION_EPOCHS --data $FASHION_DIR" \
            "$FASHION_DIR --model cnn --epochs $FASHION_EPOCHS --own-stats" "$FASHION_PAIRS"
    fi
done

echo
echo "| run | threads | SwiftNN | PyTorch $("$PYTHON" -c 'import torch; print(torch.__version__)') | SwiftNN / PyTorch |"
echo "|---|---|---|---|---|"
printf '%s\n' "${ROWS[@]}"
