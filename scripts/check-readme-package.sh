#!/usr/bin/env bash
# Builds and runs the README's "Using SwiftNN in your package" example exactly as written, with
# only the package URL pointed at this checkout (committed HEAD, as branch "main" of a bare clone
# named SwiftNN.git, so the package identity is the README's "SwiftNN").
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

git init -q --bare "$work/SwiftNN.git"
git -C "$repo" push -q "$work/SwiftNN.git" HEAD:refs/heads/main

# Each file follows a "<!-- readme-package: PATH -->" marker, in the next ```swift block.
python3 - "$repo/README.md" "$work/MyApp" <<'PY'
import os, re, sys
readme, out = open(sys.argv[1]).read(), sys.argv[2]
found = re.findall(r"<!-- readme-package: (\S+) -->\s*```swift\n(.*?)```", readme, re.S)
assert len(found) == 2, f"expected the two README files, found {[p for p, _ in found]}"
for path, body in found:
    os.makedirs(os.path.join(out, os.path.dirname(path)), exist_ok=True)
    open(os.path.join(out, path), "w").write(body)
PY
sed -i "s|https://github.com/OWNER/SwiftNN.git|file://$work/SwiftNN.git|" "$work/MyApp/Package.swift"

cd "$work/MyApp"
swift build
swift run MyApp
