"""Reads a SwiftNN run's TensorBoard event files back with the `tensorboard` package, the way
`tensorboard --logdir` does, and prints what it found.

    python scripts/verify_tensorboard.py runs/mlp/tensorboard [--expect-tag loss/train ...]
                                          [--expect expected.json] [--serve]

Checks, exiting non-zero on any problem:
  - every record's length and data CRC, read with TensorBoard's own record reader, and the first
    event of every file is the file version;
  - every run (the log folder and each folder under it holding event files) loads in
    TensorBoard's EventMultiplexer, with at least one tag, steps increasing, and histogram bucket
    counts adding up to the value count;
  - --expect FILE: the values read back equal what the writer says it wrote, a JSON object
    {"scalars": {tag: [[step, value], ...]}, "histograms": {tag: [[step, count, min, max, sum], ...]}}
    for the run in the log folder itself (scalars are float32 in the file: compared to 1e-6
    relative);
  - --serve: starts the real server (`tensorboard --logdir`, with its data server when installed)
    on a free local port and checks that its HTTP API lists the same runs, tags, scalar points and
    histogram counts as the multiplexer.

Needs `pip install tensorboard`; not needed by the project (only for verification).
"""
import argparse
import glob
import json
import math
import os
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request

from tensorboard.backend.event_processing import event_multiplexer
from tensorboard.compat.proto import event_pb2
from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import PyRecordReader_New


def read_records(path):
    """All events of one file through TensorBoard's reader (it raises on a CRC mismatch)."""
    reader = PyRecordReader_New(path, 0, None)
    events = []
    while True:
        try:
            reader.GetNext()
        except Exception as e:  # the stub signals the end with OutOfRangeError
            if type(e).__name__ == "OutOfRangeError":
                break
            raise
        ev = event_pb2.Event()
        ev.ParseFromString(reader.record())
        events.append(ev)
    return events


def close(a, b, rel=1e-6):
    return abs(a - b) <= rel * max(abs(a), abs(b)) + 1e-30


def load_runs(logdir):
    """{run: {"scalars": {tag: [(step, value)]}, "histograms": {tag: [(step, num, min, max, sum, bucket_sum)]}}}"""
    mux = event_multiplexer.EventMultiplexer(size_guidance={"scalars": 0, "histograms": 0})
    mux.AddRunsFromDirectory(logdir)
    mux.Reload()
    runs = {}
    for run, tags in mux.Runs().items():
        out = {"scalars": {}, "histograms": {}}
        for tag in tags.get("scalars", []):
            out["scalars"][tag] = [(e.step, e.value) for e in mux.Scalars(run, tag)]
        for tag in tags.get("histograms", []):
            out["histograms"][tag] = [(e.step, e.histogram_value.num, e.histogram_value.min, e.histogram_value.max,
                                       e.histogram_value.sum, sum(e.histogram_value.bucket),
                                       len(e.histogram_value.bucket), len(e.histogram_value.bucket_limit))
                                      for e in mux.Histograms(run, tag)]
        runs[run] = out
    return runs


def check_runs(runs, problems):
    if not runs:
        problems.append("EventMultiplexer found no run")
    for run, data in sorted(runs.items()):
        n_s, n_h = len(data["scalars"]), len(data["histograms"])
        print(f"run {run!r}: {n_s} scalar tags, {n_h} histogram tags")
        if n_s + n_h == 0:
            problems.append(f"run {run!r}: no tags")
        for tag, pts in sorted(data["scalars"].items()):
            steps = [s for s, _ in pts]
            if steps != sorted(steps):
                problems.append(f"{run}: scalar {tag}: steps not increasing {steps}")
            print(f"  scalar    {tag:44s} {len(pts):4d} points, steps {steps[0]}..{steps[-1]}, "
                  f"first {pts[0][1]:.6g}, last {pts[-1][1]:.6g}")
        for tag, hs in sorted(data["histograms"].items()):
            for step, num, lo, hi, total, bucket_sum, n_b, n_l in hs:
                if bucket_sum != num or n_b != n_l or (num > 0 and lo > hi):
                    problems.append(f"{run}: histogram {tag} step {step}: buckets do not add up "
                                    f"({bucket_sum} in buckets, num {num}, {n_b} buckets, {n_l} limits)")
            step, num, lo, hi = hs[-1][:4]
            print(f"  histogram {tag:44s} {len(hs):4d} steps, last (step {step}): n={num:.0f} min={lo:.4g} max={hi:.4g}")


def check_expected(runs, expected, problems):
    run = runs.get(".")
    if run is None:
        problems.append("--expect: no run in the log folder itself")
        return
    for tag, want in expected.get("scalars", {}).items():
        got = run["scalars"].get(tag)
        if got is None:
            problems.append(f"--expect: scalar {tag} missing")
            continue
        if [s for s, _ in got] != [s for s, _ in want] or not all(close(g, w) for (_, g), (_, w) in zip(got, want)):
            problems.append(f"--expect: scalar {tag}: read {got}, written {want}")
    for tag, want in expected.get("histograms", {}).items():
        got = run["histograms"].get(tag)
        if got is None:
            problems.append(f"--expect: histogram {tag} missing")
            continue
        if len(got) != len(want):
            problems.append(f"--expect: histogram {tag}: {len(got)} steps read, {len(want)} written")
            continue
        for g, w in zip(got, want):
            step, num, lo, hi, total = g[:5]
            ws, wn, wlo, whi, wsum = w
            if step != ws or num != wn or not close(lo, wlo, 1e-12) or not close(hi, whi, 1e-12) or not close(total, wsum, 1e-9):
                problems.append(f"--expect: histogram {tag} step {ws}: read (step {step}, n {num}, min {lo}, max {hi}, sum {total}), "
                                f"written (n {wn}, min {wlo}, max {whi}, sum {wsum})")
    print(f"--expect: compared {len(expected.get('scalars', {}))} scalar and {len(expected.get('histograms', {}))} histogram tags")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(base, path, **query):
    url = base + path + ("?" + urllib.parse.urlencode(query) if query else "")
    with urllib.request.urlopen(url, timeout=30) as r:
        return json.loads(r.read().decode())


def check_server(logdir, runs, problems):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-m", "tensorboard.main", "--logdir", logdir, "--host", "127.0.0.1",
                               "--port", str(port), "--reload_interval", "1"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        # The server lists runs once its first load is done.
        want_runs = sorted(runs)
        deadline = time.time() + 120
        served = []
        while time.time() < deadline:
            if server.poll() is not None:
                problems.append(f"tensorboard exited with {server.returncode}: {server.stderr.read().decode()[-2000:]}")
                return
            try:
                served = sorted(get_json(base, "/data/runs"))
                tags = get_json(base, "/data/plugin/scalars/tags")
                htags = get_json(base, "/data/plugin/histograms/tags")
                if served == want_runs and all(set(tags.get(r, {})) == set(runs[r]["scalars"]) and
                                               set(htags.get(r, {})) == set(runs[r]["histograms"]) for r in runs):
                    break
            except OSError:
                pass
            time.sleep(0.5)
        else:
            problems.append(f"tensorboard --logdir: runs {served} (want {want_runs}) or their tags never all appeared")
            return
        points = 0
        for run, data in runs.items():
            for tag, pts in data["scalars"].items():
                got = get_json(base, "/data/plugin/scalars/scalars", run=run, tag=tag)
                if [(s, v) for _, s, v in got] != [(s, v) for s, v in pts] and not (
                        [s for _, s, _ in got] == [s for s, _ in pts] and all(close(a[2], b[1]) for a, b in zip(got, pts))):
                    problems.append(f"server scalar {run}/{tag}: {got[:3]}… differs from {pts[:3]}…")
                points += len(got)
            for tag, hs in data["histograms"].items():
                got = get_json(base, "/data/plugin/histograms/histograms", run=run, tag=tag)
                if [g[1] for g in got] != [h[0] for h in hs]:
                    problems.append(f"server histogram {run}/{tag}: steps {[g[1] for g in got]} differ from {[h[0] for h in hs]}")
                for g, h in zip(got, hs):
                    if not close(sum(b[2] for b in g[2]), h[1], 1e-9):
                        problems.append(f"server histogram {run}/{tag} step {g[1]}: {sum(b[2] for b in g[2])} values in buckets, {h[1]} written")
                points += len(got)
        print(f"tensorboard --logdir (port {port}): runs {served}, every tag served, {points} scalar points and histograms equal the multiplexer's")
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("logdir")
    ap.add_argument("--expect-tag", action="append", default=[])
    ap.add_argument("--expect", help="JSON file with the scalars and histograms written")
    ap.add_argument("--serve", action="store_true", help="also check the real tensorboard server's HTTP API")
    args = ap.parse_args()
    files = sorted(glob.glob(os.path.join(args.logdir, "**", "*tfevents*"), recursive=True))
    if not files:
        sys.exit(f"no event files under {args.logdir}")
    problems = []
    for path in files:
        events = read_records(path)
        first = events[0]
        print(f"{os.path.relpath(path, args.logdir)}: {len(events)} records, CRCs ok; "
              f"first event file_version={first.file_version!r} writer={first.source_metadata.writer!r}")
        if first.file_version != "brain.Event:2":
            problems.append(f"{path}: first event is not the file version")

    runs = load_runs(args.logdir)
    check_runs(runs, problems)
    for t in args.expect_tag:
        if not any(t in r["scalars"] or t in r["histograms"] for r in runs.values()):
            problems.append(f"expected tag {t} not found")
    if args.expect:
        with open(args.expect) as f:
            check_expected(runs, json.load(f), problems)
    if args.serve and not problems:
        check_server(args.logdir, runs, problems)
    if problems:
        print("PROBLEMS:\n  " + "\n  ".join(problems))
        sys.exit(1)
    print("OK: TensorBoard reads every record")


if __name__ == "__main__":
    main()
