"""PyTorch CPU half of bench/kernels.bench.ts: per-layer forward conv, input gradient and weight gradient.

Usage: /usr/bin/python3 bench/kernels_torch.py '{"threads": 1, "reps": 7, "layers": [[name, n, h, w, ci, co, kh, kw, sh, sw, pad], ...]}'
pad is 'same' or 'valid' (tfjs's meaning: 'same' pads so that out = ceil(in / stride), extra padding at the
bottom/right, done here with F.pad). Prints one JSON object: {"torch": version, "threads": n, "results":
[{name, forward, dx, dw} as {"wall": median ms, "min": min ms, "cpu": median CPU ms}]}.
Each gradient is taken alone (only x, or only the weight, requires grad), as an attack or a training step
on the first layer would; the time includes the forward pass's bookkeeping, not the forward conv itself.
"""
import json
import math
import statistics
import sys
import time

import torch
import torch.nn.functional as F


def timed(fn, reps):
    fn()
    fn()
    walls, cpus = [], []
    for _ in range(reps):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        walls.append((time.perf_counter() - w0) * 1000)
        cpus.append((time.process_time() - c0) * 1000)
    return {"wall": statistics.median(walls), "min": min(walls), "cpu": statistics.median(cpus)}


def same_pads(size, k, s):
    out = math.ceil(size / s)
    total = max(0, (out - 1) * s + k - size)
    return total // 2, total - total // 2


def main():
    cfg = json.loads(sys.argv[1])
    torch.set_num_threads(cfg["threads"])
    torch.manual_seed(0)
    reps = cfg.get("reps", 7)
    results = []
    for name, n, h, w, ci, co, kh, kw, sh, sw, pad in cfg["layers"]:
        x = torch.randn(n, ci, h, w)
        if pad == "same":
            (pt, pb), (pl, pr) = same_pads(h, kh, sh), same_pads(w, kw, sw)
            x = F.pad(x, (pl, pr, pt, pb))
        weight = torch.randn(co, ci, kh, kw)
        with torch.no_grad():
            y = F.conv2d(x, weight, stride=(sh, sw))
        dy = torch.randn_like(y)

        def forward():
            with torch.no_grad():
                F.conv2d(x, weight, stride=(sh, sw))

        xg = x.clone().requires_grad_(True)
        wg = weight.clone().requires_grad_(True)

        def dx():
            out = torch.ops.aten.convolution_backward(dy, xg, weight, None, (sh, sw), (0, 0), (1, 1), False, (0, 0), 1, (True, False, False))
            return out[0]

        def dw():
            out = torch.ops.aten.convolution_backward(dy, x, wg, None, (sh, sw), (0, 0), (1, 1), False, (0, 0), 1, (False, True, False))
            return out[1]

        results.append({"name": name, "forward": timed(forward, reps), "dx": timed(dx, reps), "dw": timed(dw, reps)})
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "results": results}))


if __name__ == "__main__":
    main()
