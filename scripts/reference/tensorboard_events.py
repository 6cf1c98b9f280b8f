"""Reference TensorBoard event files and CRC32C vectors for the SwiftNN TensorBoard writer tests.

Writes into Tests/TestSupport/Resources/fixtures/tensorboard/:
  pytorch_events.bin   an event file written by torch.utils.tensorboard.SummaryWriter with the
                       clock pinned, so every byte (first event's wall_time included) is reproducible
  cases.json           what was written into it (tags, steps, wall times, values), and CRC32C /
                       masked-CRC32C vectors computed by TensorBoard's own implementation

Run: /work/venv/bin/python scripts/reference/tensorboard_events.py  (needs torch and tensorboard)
"""
import glob
import json
import os
import tempfile
import time

import numpy as np
import torch
from torch.utils.tensorboard import SummaryWriter
from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import crc32c, masked_crc32c

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "TestSupport", "Resources", "fixtures", "tensorboard")
FIRST_WALL_TIME = 1700000000.25  # the writer's own clock, used for the file_version event

# Values chosen so that every sum and sum of squares is exact in float64 (multiples of 1/16 with
# few bits): the bytes then do not depend on the order in which numpy adds them up.
SCALARS = [
    ("loss/train", 0, 2.3125, 1700000001.5),
    ("loss/train", 1, 1.0, 1700000002.5),
    ("accuracy/val", 1, 0.0, 1700000003.0),      # a zero value: still written (oneof field)
    ("lr", 7, -0.5, 1700000004.0),
    ("big step", 123456789012, 1e-3, 1700000005.0),
]
HISTOGRAMS = [
    ("bn/net.1/input", 3, [-1.5, -0.25, 0.0, 0.0, 0.125, 0.5, 2.0, 3.0625, 100.0], 1700000006.0),
    ("weights", 4, [0.0], 1700000007.0),
    ("tiny", 5, [1e-13, -1e-13, 7.0], 1700000008.0),
    ("single", 6, [0.75], 1700000009.0),
]


def main():
    os.makedirs(OUT, exist_ok=True)
    time.time = lambda: FIRST_WALL_TIME  # pin the writer's clock (first event's wall_time)
    with tempfile.TemporaryDirectory() as d:
        w = SummaryWriter(log_dir=d)
        for tag, step, v, wt in SCALARS:
            w.add_scalar(tag, v, global_step=step, walltime=wt)
        for tag, step, vs, wt in HISTOGRAMS:
            w.add_histogram(tag, torch.tensor(vs, dtype=torch.float32), global_step=step, walltime=wt)
        w.close()
        (path,) = glob.glob(os.path.join(d, "events.out.tfevents.*"))
        data = open(path, "rb").read()
    with open(os.path.join(OUT, "pytorch_events.bin"), "wb") as f:
        f.write(data)

    vectors = [b"", b"a", b"123456789", bytes(32), b"\xff" * 32, bytes(range(32)), bytes(range(31, -1, -1)),
               b"The quick brown fox jumps over the lazy dog", bytes(range(256)) * 3]
    crcs = [{"hex": v.hex(), "crc32c": crc32c(v), "masked": masked_crc32c(v)} for v in vectors]
    cases = {
        "torch": torch.__version__,
        "first_wall_time": FIRST_WALL_TIME,
        "source_writer": "tensorboard.summary.writer.event_file_writer",
        "scalars": [{"tag": t, "step": s, "value": v, "wall_time": wt} for t, s, v, wt in SCALARS],
        "histograms": [{"tag": t, "step": s, "values": vs, "wall_time": wt} for t, s, vs, wt in HISTOGRAMS],
        "crc32c": crcs,
    }
    with open(os.path.join(OUT, "cases.json"), "w") as f:
        json.dump(cases, f, indent=1)
        f.write("\n")
    print(f"wrote {len(data)} bytes of events, {len(crcs)} CRC vectors to {os.path.normpath(OUT)}")


if __name__ == "__main__":
    main()
