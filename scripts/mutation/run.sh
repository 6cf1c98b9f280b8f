#!/usr/bin/env bash
# Mutation testing on demand (see mutate.py for the options, REPORT.md for the last results).
#   scripts/mutation/run.sh run --target nn --sample 40 --seed 1
# The mutants are built and tested in the tool's own git worktree (.build-mutation/checkout by
# default), never in this tree. Whatever happens (Ctrl-C, kill, an error), the mutated file in that
# checkout is put back.
set -u
here="$(cd "$(dirname "$0")" && pwd)"
py="$(command -v python3 || command -v python)"
workdir=()
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
    if [[ "${args[i]}" == --workdir ]] && ((i + 1 < ${#args[@]})); then workdir=(--workdir "${args[i + 1]}"); fi
    if [[ "${args[i]}" == --workdir=* ]]; then workdir=("${args[i]}"); fi
done
trap '"$py" "$here/mutate.py" "${workdir[@]}" restore >/dev/null 2>&1' EXIT
trap 'exit 130' INT TERM HUP
"$py" "$here/mutate.py" "$@"
