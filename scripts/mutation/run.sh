#!/usr/bin/env bash
# Mutation testing on demand (see mutate.py for the options and REPORT.md for the last results).
#   scripts/mutation/run.sh run --target nn --sample 40 --seed 1
# Whatever happens (Ctrl-C, kill, an error), the mutated source file is put back.
set -u
here="$(cd "$(dirname "$0")" && pwd)"
py="$(command -v python3 || command -v python)"
trap '"$py" "$here/mutate.py" restore >/dev/null' EXIT INT TERM
"$py" "$here/mutate.py" "$@"
