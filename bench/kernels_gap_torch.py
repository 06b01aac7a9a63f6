"""PyTorch half of the `unet` row of bench/kernels.steps.ts: one training step of the paper's GAP U-Net generator
(224 px, ngf 64, batch 4) as bench/gap/gap_torch.py times it (its `time_step`, same classifier and loss).

Usage: /usr/bin/python3 bench/kernels_gap_torch.py [threads]   Prints {"train": ms per step}.
"""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "gap"))
import torch  # noqa: E402
import gap_torch  # noqa: E402

if __name__ == "__main__":
    torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 1)
    name, make, side, c, batch = next(cfg for cfg in gap_torch.CONFIGS if cfg[0].startswith("unet-isic"))
    print(json.dumps({"train": gap_torch.time_step(make, side, c, batch, steps=2)}))
