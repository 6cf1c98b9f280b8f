#!/usr/bin/env python3
"""Mutation testing for SwiftNN: small deliberate bugs in the sources, each followed by an
incremental build and the relevant tests. A mutant the tests do not notice ("survived") is either
a missing test or an equivalent program; REPORT.md accounts for every survivor.

    scripts/mutation/run.sh list   --target nn [--file Conv]            # the candidate mutants
    scripts/mutation/run.sh run    --target nn --sample 40 --seed 1     # a deterministic sample
    scripts/mutation/run.sh run    --target tensorcore,nn --sample 10   # 10 of each, one baseline
    scripts/mutation/run.sh run    --ids 3fa2c1d0,...                   # rerun chosen mutants
    scripts/mutation/run.sh run    --spec scripts/mutation/audit.json  # hand-written mutations
    scripts/mutation/run.sh report scripts/mutation/results/*.jsonl     # score tables
    scripts/mutation/run.sh restore                                     # put the checkout back
    scripts/mutation/run.sh clean                                       # remove the checkout

Where it works: never in your working tree. `run` makes (once) a git worktree of this repository
at .build-mutation/checkout (or --workdir), puts it on the commit to test (--rev, default HEAD:
commit what you want tested), resets it there (`git checkout --force`, `git clean`), and builds in
that checkout's own .build folder. Your files and your .build are never touched; the results go to
scripts/mutation/results/ of the tree you ran it from. Sampling is deterministic for a given
commit and seed; a mutant's id stays the same while its source line is unchanged.

Mutation operators (applied to code only — comments and string literals are skipped):
  operator  flip an operator: + -, * /, &+ &-, < <=, > >=, == !=, && ||, += -=, *= /=, ..< ...
  constant  change a literal: 0 -> 1, 1 -> 0, n -> n+1 / n-1, x.y -> x.y+1 (0.0 -> 1.0)
  drop      delete a one-line statement (an assignment or a call)
  swap      swap the two arguments of a two-argument call (not of symmetric min/max)

Each mutant: write the mutated file in the checkout (the original is backed up under
scripts/mutation/.backup there and restored afterwards, also on Ctrl-C/SIGTERM/SIGHUP and on a
timeout; after a hard kill the next run or `restore` resets the checkout), `swift build
--build-tests` (a mutant that does not compile is "uncompilable" and not counted), then
`swift test --skip-build` with the target's filter under a timeout ("timeout": the mutant hangs,
counted as detected); a mutant that passes is run against the whole suite before it counts as
survived. Results go to one JSON line per mutant.

Requires only python3, git and the Swift toolchain. Run it from anywhere.
"""
import argparse
import fcntl
import hashlib
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]      # the user's tree: read-only for this tool
RESULTS = ROOT / "scripts/mutation/results"
WORK = ROOT / ".build-mutation/checkout"         # the tool's own worktree (set by --workdir)

# Stage 1 runs the test targets that reach the code (fast); a mutant that survives it is run
# against the whole suite (stage 2, including the CLI, distributed and monitor tests) before it is
# called a survivor.
LIBRARY_TESTS = ["--filter", r"^(TensorCoreTests|AutogradTests|NNTests|OptimTests|CheckpointTests|DoctorTests)\."]
TARGETS = {
    "tensorcore": {"globs": ["Sources/TensorCore/CPU/**/*.swift"], "test": LIBRARY_TESTS},
    "autograd": {"globs": ["Sources/Autograd/Ops/*.swift", "Sources/Autograd/GradNode.swift"], "test": LIBRARY_TESTS},
    "nn": {"globs": ["Sources/NN/Layers/*.swift", "Sources/NN/Functional/*.swift", "Sources/NN/Normalization/*.swift",
                     "Sources/NN/Losses/*.swift", "Sources/NN/Dropout/*.swift"],
           "test": ["--filter", r"^(NNTests|OptimTests|CheckpointTests|DoctorTests)\."]},
    "readers": {"globs": ["Sources/Checkpoint/Safetensors.swift", "Sources/Checkpoint/HeaderJSON.swift",
                          "Sources/Checkpoint/AtomicFile.swift", "Sources/Checkpoint/ModuleCheckpoint.swift",
                          "Sources/Checkpoint/TrainingCheckpoint*.swift", "Sources/Data/IDX.swift",
                          "Sources/Data/Gzip.swift", "Sources/Data/CIFAR10.swift", "Sources/Data/MNIST.swift"],
                "test": ["--filter", r"^(CheckpointTests|DataTests)\."]},
}
CONFIRM_TIMEOUT = 1200


# ---------------------------------------------------------------------------------------------
# Finding mutation sites

def code_mask(text):
    """True for every character that is Swift code (not a comment or a string literal)."""
    mask = [True] * len(text)
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            mask[i:j] = [False] * (j - i)
            i = j
        elif text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            mask[i:j] = [False] * (j - i)
            i = j
        elif c == '"' or (c == "#" and re.match(r'#+"', text[i:])):
            hashes = len(re.match(r"#*", text[i:]).group())
            start = i
            i += hashes
            close = '"""' if text.startswith('"""', i) else '"'
            i += len(close)
            terminator = close + "#" * hashes
            while i < n and not text.startswith(terminator, i):
                i += 2 if (text[i] == "\\" and not hashes) else 1
            i = min(n, i + len(terminator))
            mask[start:i] = [False] * (i - start)
        else:
            i += 1
    return mask


OPERATORS = [
    (" + ", " - "), (" - ", " + "), (" * ", " / "), (" / ", " * "), (" &+ ", " &- "), (" &- ", " &+ "),
    (" < ", " <= "), (" <= ", " < "), (" > ", " >= "), (" >= ", " > "), (" == ", " != "), (" != ", " == "),
    (" && ", " || "), (" || ", " && "), (" += ", " -= "), (" -= ", " += "), (" *= ", " /= "), (" /= ", " *= "),
    (" &+= ", " &-= "), ("..<", "..."),
]
KEYWORDS = ("let ", "var ", "func ", "if ", "guard ", "for ", "while ", "switch ", "case ", "default", "return",
            "else", "}", "{", "@", "import ", "struct ", "class ", "enum ", "extension ", "public ", "private ",
            "internal ", "fileprivate ", "init", "deinit", "defer", "do ", "do{", "catch", "throw ", "repeat",
            "static ", "override ", "final ", "typealias ", "protocol ", "#", "break", "continue", "fallthrough",
            "nonisolated", "lazy ", "weak ", "unowned ", "mutating ", "convenience ", "required ", "indirect ")
SYMMETRIC = {"max", "min", "Swift.max", "Swift.min", "Swift.abs"}
CALLEE_KEYWORDS = {"if", "for", "while", "switch", "guard", "return", "case", "catch", "init", "super.init", "self.init"}


_copies = {}


def line_copy(text, line_start):
    """How many earlier lines of `text` are identical to the line starting at `line_start`."""
    key = id(text)
    if key not in _copies or _copies[key][0] is not text:
        seen, table, pos = {}, {}, 0
        for line in text.split("\n"):
            table[pos] = seen.get(line, 0)
            seen[line] = table[pos] + 1
            pos += len(line) + 1
        _copies.clear()
        _copies[key] = (text, table)
    return _copies[key][1][line_start]


class Mutant:
    def __init__(self, path, offset, length, replacement, kind, text):
        self.path, self.offset, self.length, self.replacement, self.kind = path, offset, length, replacement, kind
        self.original = text[offset:offset + length]
        self.line = text.count("\n", 0, offset) + 1
        line_start = text.rfind("\n", 0, offset) + 1
        line_end = text.find("\n", offset)
        self.source_line = text[line_start:line_end if line_end >= 0 else len(text)].strip()
        # The id names the mutation by its line's text (and which copy of that line it is) and
        # its column, not by the file offset, so edits elsewhere in the file keep it stable.
        column = offset - line_start
        copy = line_copy(text, line_start)
        key = f"{path}:{self.source_line}:{copy}:{column}:{length}:{kind}:{replacement}"
        self.id = hashlib.sha1(key.encode()).hexdigest()[:8]

    def apply(self, text):
        return text[:self.offset] + self.replacement + text[self.offset + self.length:]

    def describe(self):
        if self.kind == "drop":
            return f"drop `{self.original.strip()}`"
        return f"`{self.original.strip() or self.original}` -> `{self.replacement.strip() or self.replacement}`"

    def record(self):
        return {"id": self.id, "file": self.path, "line": self.line, "kind": self.kind, "mutation": self.describe(),
                "source_line": self.source_line}


def balanced(s):
    depth = 0
    for ch in s:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0


def find_mutants(path):
    text = (WORK / path).read_text()
    mask = code_mask(text)

    def is_code(a, b):
        return all(mask[a:b])

    out = []
    for old, new in OPERATORS:
        for m in re.finditer(re.escape(old), text):
            a, b = m.start(), m.end()
            if not is_code(a, b):
                continue
            # `->` and `a < b` inside generic brackets have no spaces; ` - ` after `(`/`,` would be unary.
            if old == " - " and re.search(r"[(\[,=:]\s*$", text[:a]):
                continue
            if old in (" < ", " > ") and text[a - 1:a] in "<>":
                continue
            out.append(Mutant(path, a, b - a, new, "operator", text))
    for m in re.finditer(r"(?<![\w.#$])(\d+\.\d+(?:[eE][-+]?\d+)?|\d+[eE][-+]?\d+|\d+)(?![\w.])", text):
        a, b = m.start(), m.end()
        if not is_code(a, b) or text[a - 2:a] == "0x":
            continue
        lit = m.group()
        if re.fullmatch(r"\d+", lit):
            v = int(lit)
            reps = ["1"] if v == 0 else (["0", "2"] if v == 1 else [str(v + 1), str(v - 1)])
        else:
            v = float(lit)
            reps = ["1.0"] if v == 0 else [repr(v + 1.0)]
        for r in reps:
            out.append(Mutant(path, a, b - a, r, "constant", text))
    lines = text.split("\n")
    offset = 0
    for idx, line in enumerate(lines):
        start = offset
        offset += len(line) + 1
        stripped = line.strip()
        if not stripped or stripped.startswith(KEYWORDS) or stripped.startswith("try? ") and "=" not in stripped:
            continue
        a = start + len(line) - len(line.lstrip())
        b = start + len(line.rstrip())
        if not is_code(a, b) or not balanced(stripped):
            continue
        if stripped[-1] in "{([,.=+-*/&|" or stripped.endswith(" in"):
            continue
        nxt = next((l.strip() for l in lines[idx + 1:] if l.strip()), "")
        if nxt[:1] in ".+-*/&|?:" or nxt.startswith("else"):
            continue
        prev = next((l.strip() for l in reversed(lines[:idx]) if l.strip()), "")
        if prev and prev[-1] in "(,=+-*/&|[" or prev.endswith(" in"):
            continue
        is_assign = re.search(r"(?<![=!<>])(=|\+=|-=|\*=|/=|&\+=)(?!=)", stripped) is not None
        if not (is_assign or stripped.endswith(")")):
            continue
        out.append(Mutant(path, a, b - a, "", "drop", text))
    call = re.compile(r"(?<![\w.])([A-Za-z_][\w.]*)\(\s*([^(),:\[\]{}\"]+?)\s*,\s*([^(),:\[\]{}\"]+?)\s*\)")
    for m in call.finditer(text):
        callee, x, y = m.group(1), m.group(2), m.group(3)
        if callee in SYMMETRIC or callee in CALLEE_KEYWORDS or x == y or not is_code(m.start(), m.end()):
            continue
        a = m.start(2)
        b = m.end(3)
        out.append(Mutant(path, a, b - a, f"{y}, {x}", "swap", text))
    return out


def target_files(target, file_filter=None):
    files = set()
    for g in TARGETS[target]["globs"]:
        files.update(p.relative_to(WORK).as_posix() for p in WORK.glob(g))
    files = sorted(files)
    if file_filter:
        files = [f for f in files if re.search(file_filter, f)]
    return files


def candidates(target, file_filter=None):
    out = []
    for f in target_files(target, file_filter):
        out.extend(find_mutants(f))
    return out


# ---------------------------------------------------------------------------------------------
# Running mutants

def backup_dir():
    return WORK / "scripts/mutation/.backup"


def backup_path(path):
    return backup_dir() / (path.replace("/", "__") + ".orig")


def restore_all():
    """Puts back every file of the checkout that a run left mutated (from its backup)."""
    if not backup_dir().exists():
        return 0
    n = 0
    for b in backup_dir().iterdir():
        if b.name.endswith(".orig"):
            original = b.name[:-5].replace("__", "/")
            (WORK / original).write_bytes(b.read_bytes())
            b.unlink()
            n += 1
    return n


def git(*args, cwd=None, check=True):
    r = subprocess.run(["git", *args], cwd=cwd or ROOT, capture_output=True, text=True)
    if check and r.returncode != 0:
        sys.exit(f"git {' '.join(args)} failed: {r.stderr.strip()}")
    return r.stdout.strip()


def lock_checkout():
    """One run at a time per checkout: a second `run`/`list` would reset it under the first."""
    WORK.parent.mkdir(parents=True, exist_ok=True)
    f = open(WORK.parent / (WORK.name + ".lock"), "w")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        sys.exit(f"another mutation run is using {WORK}; wait for it or pass another --workdir")
    return f   # held until the process exits


def prepare_checkout(rev):
    """Makes WORK a clean checkout of `rev` (a worktree of this repository, created on first use)."""
    commit = git("rev-parse", "--verify", f"{rev}^{{commit}}")
    if not (WORK / ".git").exists():
        git("worktree", "prune")
        WORK.parent.mkdir(parents=True, exist_ok=True)
        print(f"creating the mutation checkout {WORK} (its first build is a full build)", flush=True)
        git("worktree", "add", "--detach", str(WORK), commit)
    restore_all()
    git("checkout", "--detach", "--force", commit, cwd=WORK)
    git("clean", "-fdq", cwd=WORK)          # untracked files go; ignored ones (.build) stay
    dirty = git("status", "--porcelain", "--untracked-files=no", cwd=WORK)
    if dirty:
        sys.exit(f"the mutation checkout is not clean after the reset:\n{dirty}")
    return git("rev-parse", "--short", commit)


def run(cmd, timeout):
    """Runs `cmd` in the checkout in its own process group; kills the whole group on timeout."""
    p = subprocess.Popen(cmd, cwd=WORK, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         start_new_session=True)
    try:
        out, _ = p.communicate(timeout=timeout)
        return p.returncode, out, False
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, _ = p.communicate()
        return None, out, True
    except BaseException:
        os.killpg(p.pid, signal.SIGKILL)
        p.communicate()
        raise


def build(timeout=3600):
    code, out, timed_out = run(["swift", "build", "--build-tests"], timeout)
    errors = [l for l in out.splitlines() if "error:" in l]
    return code == 0 and not timed_out, errors[:3]


def test(target, timeout):
    """Stage 1 (the target's tests), then for a survivor stage 2 (the whole suite)."""
    status, failing, crashed = test_once(TARGETS[target]["test"], timeout)
    if status != "survived":
        return status, failing, crashed, 1
    status, failing, crashed = test_once([], max(timeout, CONFIRM_TIMEOUT))
    return status, failing, crashed, 2


def test_once(filter_args, timeout):
    code, out, timed_out = run(["swift", "test", "--skip-build"] + filter_args, timeout)
    failing = []
    for l in out.splitlines():
        m = re.match(r"✘ Test (.+?) (?:recorded an issue|failed)", l)
        if m and m.group(1) not in failing and not m.group(1).startswith("run with"):
            failing.append(m.group(1))
    crashed = "Fatal error" in out or "signal code" in out or "Exited with" in out
    return ("timeout" if timed_out else ("survived" if code == 0 else "killed")), failing[:5], crashed


def union_filter(targets):
    """One `--filter` covering the test targets of every given mutation target."""
    names = []
    for t in targets:
        for n in re.search(r"\^\((.*)\)", TARGETS[t]["test"][1]).group(1).split("|"):
            if n not in names:
                names.append(n)
    return ["--filter", "^(" + "|".join(names) + r")\."]


def run_mutants(mutants, args, out_file, head):
    """`mutants` is a list of (Mutant, target); `out_file(target)` names the results file;
    `args.sample` bounds the compiled mutants per target."""
    backup_dir().mkdir(parents=True, exist_ok=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    targets = sorted({t for _, t in mutants})
    print(f"baseline: building and testing the unmutated sources of {head} in {WORK}", flush=True)
    ok, errors = build()
    if not ok:
        sys.exit(f"the unmutated sources do not build: {errors}")
    t0 = time.time()
    status, failing, _ = test_once(union_filter(targets), 3600)
    baseline = time.time() - t0
    if status != "survived":
        sys.exit(f"the unmutated sources fail their tests ({failing}); fix that first")
    timeout = args.timeout or max(240, 5 * baseline)
    print(f"baseline tests: {baseline:.0f} s; mutant timeout {timeout:.0f} s", flush=True)
    done = {}
    for m, target in mutants:
        rerun = m.id in getattr(args, "also_ids", "").split(",")
        if args.sample and not rerun and done.get(target, 0) >= args.sample:
            continue
        path = WORK / m.path
        original = path.read_text()
        if original[m.offset:m.offset + m.length] != m.original:
            print(f"skip {m.id}: the source changed under it")
            continue
        backup = backup_path(m.path)
        backup.write_text(original)
        start = time.time()
        try:
            path.write_text(m.apply(original))
            built, errors = build()
            stage = 0
            if not built:
                status, failing, crashed = "uncompilable", errors, False
            else:
                status, failing, crashed, stage = test(target, timeout)
        finally:
            path.write_text(original)
            backup.unlink()
        if status != "uncompilable" and not rerun:
            done[target] = done.get(target, 0) + 1
        rec = {**m.record(), "target": target, "status": status, "stage": stage, "failing": failing, "crashed": crashed,
               "seconds": round(time.time() - start, 1), "commit": head}
        if getattr(m, "name", None):
            rec["name"] = m.name
        with open(out_file(target), "a") as f:
            f.write(json.dumps(rec) + "\n")
        print(f"[{target} {done.get(target, 0)}] {m.id} {status:12s} {m.path}:{m.line} {m.describe()}", flush=True)
    # Leave the checkout's build matching its sources (the next run's baseline is then cheap).
    build()


class SpecMutant(Mutant):
    """A hand-written mutation: replace `find` (which must occur once) by `replace`."""

    def __init__(self, spec):
        text = (WORK / spec["file"]).read_text()
        count = text.count(spec["find"])
        if count != 1:
            sys.exit(f"spec '{spec['name']}': `find` occurs {count} times in {spec['file']}")
        super().__init__(spec["file"], text.index(spec["find"]), len(spec["find"]), spec["replace"], "spec", text)
        self.name = spec["name"]


# ---------------------------------------------------------------------------------------------
# Reporting

def report(files, equivalent_file):
    """Score tables from results files, in the order given: a mutant's first verdict is the
    sample's ("first run"), its last verdict is the current one (after tests were added, the
    survivors are rerun with --ids)."""
    equivalent = {}
    if equivalent_file and Path(equivalent_file).exists():
        equivalent = json.loads(Path(equivalent_file).read_text())
    first, last, specs = {}, {}, {}
    for f in files:
        for line in Path(f).read_text().splitlines():
            r = json.loads(line)
            if r["kind"] == "spec":
                specs[r["name"]] = r
                continue
            key = (r["target"], r["id"])
            first.setdefault(key, r)
            last[key] = r

    def counts(verdicts):
        rows = {}
        for (target, mid), r in sorted(verdicts.items()):
            c = rows.setdefault(target, {"killed": 0, "timeout": 0, "survived": 0, "equivalent": 0, "uncompilable": 0})
            status = r["status"]
            if status == "survived" and mid in equivalent:
                status = "equivalent"
            c[status] += 1
        return rows

    def score(c):
        detected = c["killed"] + c["timeout"]
        counted = detected + c["survived"]
        return f"{100 * detected / counted:.1f}%" if counted else "-"

    if specs:
        print("| hand-written mutation | verdict | commit | a test that fails |")
        print("|---|---|---|---|")
        for name, r in specs.items():
            print(f"| {name} | {r['status']} | {r['commit']} | {', '.join(f'`{t}`' for t in r['failing'][:2])} |")
        print()
    if not first:
        return
    before, after = counts(first), counts(last)
    print("| target | mutants run | killed | timeout | survived | equivalent | score | uncompilable (not counted) | score before the added tests |")
    print("|---|---|---|---|---|---|---|---|---|")
    for target, c in after.items():
        run_count = c["killed"] + c["timeout"] + c["survived"] + c["equivalent"]
        print(f"| {target} | {run_count} | {c['killed']} | {c['timeout']} | {c['survived']} | {c['equivalent']} | "
              f"{score(c)} | {c['uncompilable']} | {score(before[target])} |")
    print()
    survivors = [(k, r) for k, r in first.items() if r["status"] == "survived"]
    if survivors:
        print("| id | where | mutation | verdict |")
        print("|---|---|---|---|")
        for key, r in sorted(survivors, key=lambda kr: (kr[1]["target"], kr[1]["file"], kr[1]["line"])):
            now = last[key]
            if r["id"] in equivalent:
                verdict = "equivalent: " + equivalent[r["id"]]
            elif now["status"] in ("killed", "timeout"):
                by = ", ".join(f"`{t}`" for t in now["failing"][:3]) or (
                    "a trap in the test process" if now.get("crashed") else "a failing test run")
                verdict = f"now {now['status']} (at {now['commit']}) by {by}"
            else:
                verdict = "**survives**"
            mutation = r["mutation"].replace("|", "¦")
            print(f"| {r['id']} | {r['file']}:{r['line']} (at {r['commit']}) | {mutation} | {verdict} |")


def main():
    global WORK
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", help=f"the tool's own checkout (default {WORK.relative_to(ROOT)})")
    sub = ap.add_subparsers(dest="cmd", required=True)
    lp = sub.add_parser("list")
    lp.add_argument("--target", choices=TARGETS, required=True)
    lp.add_argument("--file", help="regex on the source path")
    lp.add_argument("--rev", default="HEAD", help="commit to mutate (default HEAD)")
    rp = sub.add_parser("run")
    rp.add_argument("--rev", default="HEAD", help="commit to mutate (default HEAD; uncommitted changes are not seen)")
    rp.add_argument("--target", help=f"comma-separated, from {', '.join(TARGETS)} (with --ids: default all)")
    rp.add_argument("--file", help="regex on the source path")
    rp.add_argument("--sample", type=int, default=0, help="stop after this many compiled mutants (0: all)")
    rp.add_argument("--seed", type=int, default=1)
    rp.add_argument("--kinds", default="operator,constant,drop,swap")
    rp.add_argument("--ids", help="comma-separated mutant ids to run (from list or a results file)")
    rp.add_argument("--also-ids", default="", help="mutant ids (any target) to rerun first, besides the sample")
    rp.add_argument("--spec", help="JSON file of hand-written mutations: [{name, file, find, replace, target}]")
    rp.add_argument("--timeout", type=float, default=0, help="seconds per test run (default: 5 x baseline, >= 240)")
    rp.add_argument("--out", help="results file (JSON lines); default scripts/mutation/results/<target>-seed<seed>.jsonl")
    pp = sub.add_parser("report")
    pp.add_argument("files", nargs="+")
    pp.add_argument("--equivalent", default=str(ROOT / "scripts/mutation/equivalent.json"))
    sub.add_parser("restore")
    sub.add_parser("clean")
    args = ap.parse_args()
    if args.workdir:
        WORK = Path(args.workdir).resolve()

    if args.cmd == "report":
        report(args.files, args.equivalent)
        return
    lock = lock_checkout()  # noqa: F841 (held while this process lives)
    if args.cmd == "restore":
        print(f"restored {restore_all()} file(s) in {WORK}")
        return
    if args.cmd == "clean":
        if (WORK / ".git").exists():
            git("worktree", "remove", "--force", str(WORK))
        git("worktree", "prune")
        print(f"removed {WORK}")
        return

    # list and run read the sources of the checkout, reset to the commit asked for.
    def on_signal(signum, frame):
        raise KeyboardInterrupt
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    head = prepare_checkout(args.rev)
    if args.cmd == "list":
        for m in candidates(args.target, args.file):
            print(f"{m.id} {m.path}:{m.line} {m.kind:8s} {m.describe()}")
        return

    if args.spec:
        specs = json.loads(Path(args.spec).read_text())
        mutants = [(SpecMutant(s), s["target"]) for s in specs]
        out = args.out or str(RESULTS / f"{Path(args.spec).stem}.jsonl")
        print(f"{len(mutants)} hand-written mutants of {head}; results -> {out}", flush=True)
        run_mutants(mutants, argparse.Namespace(sample=0, timeout=args.timeout), lambda _: out, head)
        return
    if not args.target and not args.ids:
        sys.exit("--target is required (or --spec, or --ids)")
    # Several targets share one baseline: --target tensorcore,nn --sample 10 runs 10 of each.
    targets = args.target.split(",") if args.target else list(TARGETS)
    unknown = [t for t in targets if t not in TARGETS]
    if unknown:
        sys.exit(f"unknown target(s) {unknown}; choose from {list(TARGETS)}")
    kinds = set(args.kinds.split(","))
    pool = []
    for target in targets:
        ms = [m for m in candidates(target, args.file) if m.kind in kinds]
        if args.ids:
            wanted = set(args.ids.split(","))
            ms = [m for m in ms if m.id in wanted]
        else:
            ms.sort(key=lambda m: (m.path, m.offset, m.kind, m.replacement))
            random.Random(args.seed).shuffle(ms)
        pool += [(m, target) for m in ms]
    if args.also_ids:
        wanted = args.also_ids.split(",")
        extra = [(m, t) for t in TARGETS for m in candidates(t) if m.id in wanted]
        missing = set(wanted) - {m.id for m, _ in extra}
        if missing:
            print(f"not found (source changed?): {sorted(missing)}")
        # Reruns do not count towards the sample.
        pool = extra + [(m, t) for m, t in pool if m.id not in wanted]
    if args.ids:
        missing = set(args.ids.split(",")) - {m.id for m, _ in pool}
        if missing:
            print(f"not found (source changed?): {sorted(missing)}")

    def out(target):
        return args.out or str(RESULTS / f"{target}-seed{args.seed}.jsonl")
    print(f"{len(pool)} candidate mutants of {head} in {', '.join(targets)}; results -> "
          f"{', '.join(sorted({out(t) for _, t in pool}))}", flush=True)
    run_mutants(pool, args, out, head)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        n = restore_all()
        sys.exit(f"interrupted; restored {n} file(s) in {WORK}")
