"""Reads a SwiftNN run's TensorBoard event files back with the `tensorboard` package, the way
`tensorboard --logdir` does, and prints what it found.

    /work/venv/bin/python scripts/verify_tensorboard.py runs/mlp/tensorboard [--expect-tag loss/train ...]

Checks: every record's length and data CRC (TensorBoard's own record reader), the first event is
the file version, every scalar and histogram tag loads in EventAccumulator with monotonically
increasing steps, and each histogram's bucket counts add up to at most its value count.
Exits non-zero on any problem. Not needed by the project (only for verification).
"""
import argparse
import glob
import os
import sys

from tensorboard.backend.event_processing import event_accumulator
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("logdir")
    ap.add_argument("--expect-tag", action="append", default=[])
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

    acc = event_accumulator.EventAccumulator(args.logdir, size_guidance={event_accumulator.SCALARS: 0,
                                                                         event_accumulator.HISTOGRAMS: 0})
    acc.Reload()
    tags = acc.Tags()
    print(f"EventAccumulator: {len(tags['scalars'])} scalar tags, {len(tags['histograms'])} histogram tags")
    for tag in tags["scalars"]:
        pts = acc.Scalars(tag)
        steps = [p.step for p in pts]
        if steps != sorted(steps):
            problems.append(f"scalar {tag}: steps not increasing {steps}")
        print(f"  scalar    {tag:40s} {len(pts):4d} points, steps {steps[0]}..{steps[-1]}, "
              f"first {pts[0].value:.6g}, last {pts[-1].value:.6g}")
    for tag in tags["histograms"]:
        hs = acc.Histograms(tag)
        for h in hs:
            hv = h.histogram_value
            if sum(hv.bucket) > hv.num or len(hv.bucket) != len(hv.bucket_limit):
                problems.append(f"histogram {tag} step {h.step}: buckets do not add up")
        last = hs[-1].histogram_value
        print(f"  histogram {tag:40s} {len(hs):4d} steps, last: n={last.num:.0f} min={last.min:.4g} "
              f"max={last.max:.4g} {len(last.bucket)} buckets")
    for t in args.expect_tag:
        if t not in tags["scalars"] and t not in tags["histograms"]:
            problems.append(f"expected tag {t} not found")
    if problems:
        print("PROBLEMS:\n  " + "\n  ".join(problems))
        sys.exit(1)
    print("OK: TensorBoard reads every record")


if __name__ == "__main__":
    main()
