#!/usr/bin/env python3
"""The reference safetensors reader's verdict on every single-byte corruption of a small file.

    /work/venv/bin/python scripts/reference/make_safetensors_flip_fixture.py [FIXTURES_DIR]

Writes `safetensors/flip_base.safetensors` (three tensors: I64 [2], F32 [2, 3], BOOL [3], and
metadata, serialized by the `safetensors` package) and `safetensors/flips.json`: for every byte of
the 8-byte prefix and the header, and every mask in MASKS, whether the `safetensors` package (the
format's reference implementation, Rust) loads the file with that byte XOR-ed with the mask, and
if so the tensors it finds (name, dtype, shape) and the metadata.
"""
import json
import os
import sys

import torch
from safetensors import safe_open
from safetensors.torch import load, save

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "Tests/TestSupport/Resources/fixtures"),
                   "safetensors")
MASKS = [0x01, 0x20, 0x80, 0xFF]


def main():
    os.makedirs(OUT, exist_ok=True)
    tensors = {"w": torch.tensor([[1, 2, 3], [4, 5, 6]], dtype=torch.float32), "n": torch.tensor([7, -8]),
               "m": torch.tensor([True, False, True])}
    base = save(tensors, metadata={"case": '{"a": 1}'})
    with open(os.path.join(OUT, "flip_base.safetensors"), "wb") as f:
        f.write(base)
    data_start = 8 + int.from_bytes(base[:8], "little")
    accepted = []
    for i in range(data_start):
        for mask in MASKS:
            b = bytearray(base)
            b[i] ^= mask
            try:
                loaded = load(bytes(b))
            except Exception:
                continue
            # The metadata as the reference reads it (load() drops it).
            path = os.path.join(OUT, ".probe.safetensors")
            with open(path, "wb") as f:
                f.write(b)
            with safe_open(path, "pt") as f:
                metadata = f.metadata()
            os.remove(path)
            accepted.append({"offset": i, "mask": mask, "metadata": metadata,
                             "tensors": {k: {"dtype": str(v.dtype).replace("torch.", ""), "shape": list(v.shape)}
                                         for k, v in loaded.items()}})
    with open(os.path.join(OUT, "flips.json"), "w") as f:
        json.dump({"generator": "scripts/reference/make_safetensors_flip_fixture.py", "masks": MASKS,
                   "data_start": data_start, "accepted": accepted}, f, indent=1)
        f.write("\n")
    for name in ("flip_base.safetensors", "flips.json"):
        os.chmod(os.path.join(OUT, name), 0o644)
    print(f"{len(accepted)} of {data_start * len(MASKS)} flips load in safetensors (torch {torch.__version__})")


if __name__ == "__main__":
    main()
