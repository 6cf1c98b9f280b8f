"""PyTorch's DistributedSampler on small cases, for Tests/DistributedTests/DistributedSamplerTests.

Run from the repository root:  /work/venv/bin/python scripts/reference/make_sampler_fixtures.py
Writes Tests/TestSupport/Resources/fixtures/distributed/sampler.json: for every case PyTorch's
per-rank index lists and len(sampler); for shuffled cases also the permutation PyTorch drew
(torch.randperm with a generator seeded by seed + epoch), so the Swift test can apply its own
partitioning to the same permutation and compare.
"""
import json
import os

import torch
from torch.utils.data.distributed import DistributedSampler


class Sized:
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n


cases = []
for n in [0, 1, 2, 5, 10, 11, 13]:
    for replicas in [1, 2, 3, 4]:
        for drop_last in [False, True]:
            for shuffle, seed, epoch in [(False, 0, 0), (True, 0, 0), (True, 7, 3)]:
                ranks = []
                for rank in range(replicas):
                    s = DistributedSampler(Sized(n), num_replicas=replicas, rank=rank, shuffle=shuffle,
                                           seed=seed, drop_last=drop_last)
                    s.set_epoch(epoch)
                    ranks.append({"len": len(s), "indices": list(iter(s))})
                case = {"n": n, "num_replicas": replicas, "drop_last": drop_last, "shuffle": shuffle,
                        "seed": seed, "epoch": epoch, "ranks": ranks}
                if shuffle:
                    g = torch.Generator()
                    g.manual_seed(seed + epoch)
                    case["permutation"] = torch.randperm(n, generator=g).tolist()
                cases.append(case)

out = os.path.join("Tests", "TestSupport", "Resources", "fixtures", "distributed", "sampler.json")
os.makedirs(os.path.dirname(out), exist_ok=True)
with open(out, "w") as f:
    json.dump({"torch": torch.__version__, "cases": cases}, f, separators=(",", ":"))
print(f"wrote {len(cases)} cases to {out}")
