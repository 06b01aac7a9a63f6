"""PyTorch CPU half of bench/paperNets.ts: one measurement (network, step) in a fresh process.

torchvision's DenseNet-121 and Inception-v3 (no aux head) and a port of IPMI2019-AttnMel's AttnVGG
(src/models/attnVgg.ts), the same layouts as medrobust's (the parameter counts are printed and compared).

Usage: /usr/bin/python3 bench/paperNets_torch.py '{"net": "densenet121", "step": "pgd", "threads": 2,
        "batch": 32, "size": 224, "classes": 14, "eps": 0.0314, "alpha": 0.0078}'
Prints one JSON line: {side, net, step, batch, seconds, stepPeakMiB, processPeakMiB, parameters}.

Steps (as bench/paperNets.ts): forward (no_grad, eval; median of 3 after a warm-up); pgd (PGD-10 on the
whole batch, eval mode, weights not requiring gradients: the input gradient only; one step, timed from
the end of the first to the end of the last);
train (one SGD step of the clean cross-entropy, train mode, after a warm-up step); maadvt (MART as
YisenWang/MART's mart_loss: T = 10 inner PGD steps in eval mode from x + 0.001·N(0, 1), then the MART loss
with beta 6 in train mode, one SGD step).
"""
import json
import os
import statistics
import sys
import time

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    import torchvision
except ImportError as exc:
    print(json.dumps({"error": f"torch/torchvision unavailable: {exc}"}))
    sys.exit(0)


# The AttnVGG port and the /proc reader are bench/torch_memory.py's (the script's folder is on sys.path).
from torch_memory import paper_net, status  # noqa: E402
# MART's loss as the parity suite ports it (test/parity/defenses_ports.py, import-safe).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'parity'))
from defenses_ports import mart_loss  # noqa: E402


def status_kib(key):
    return status(key) // 1024


def mart_step(model, x, y, optimizer, eps, alpha, steps, beta):
    """One MAAdvT step: YisenWang/MART's mart_loss (the parity suite's port) plus the optimizer step."""
    loss, _ = mart_loss(model, x, y, optimizer, alpha, eps, steps, beta, torch.randn_like(x))
    loss.backward()
    optimizer.step()


def main():
    cfg = json.loads(sys.argv[1])
    torch.set_num_threads(int(cfg['threads']))
    torch.manual_seed(1)
    net, step, batch, size, classes = cfg['net'], cfg['step'], int(cfg['batch']), int(cfg['size']), int(cfg['classes'])
    eps, alpha = float(cfg['eps']), float(cfg['alpha'])
    model = paper_net(net, classes)
    parameters = sum(p.numel() for p in model.parameters())
    x = torch.rand(batch, 3, size, size)
    y = torch.arange(batch) % classes
    base = status_kib('VmRSS:')

    def timed(fn):
        t0 = time.perf_counter()
        fn()
        return time.perf_counter() - t0

    if step == 'forward':
        model.eval()

        def forward():
            with torch.no_grad():
                model(x)
        forward()
        seconds = statistics.median([timed(forward) for _ in range(3)])
    elif step == 'pgd':
        model.eval()
        for p in model.parameters():
            p.requires_grad_(False)  # an attack needs the input gradient only

        steps = int(cfg.get('pgdSteps', 10))
        ends = [time.perf_counter()]
        x_adv = x.clone()
        for _ in range(steps):
            x_adv.requires_grad_()
            loss = F.cross_entropy(model(x_adv), y, reduction='sum')
            grad = torch.autograd.grad(loss, [x_adv])[0]
            x_adv = x_adv.detach() + alpha * torch.sign(grad)
            x_adv = torch.clamp(torch.min(torch.max(x_adv, x - eps), x + eps), 0.0, 1.0)
            ends.append(time.perf_counter())
        # from the end of the first step to the end of the last, as bench/paperNets.ts; with one step,
        # that step from its start (first-call set-up included)
        seconds = (ends[-1] - ends[1]) / (steps - 1) if steps > 1 else ends[1] - ends[0]
    elif step == 'train':
        model.train()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01)

        def train():
            optimizer.zero_grad()
            F.cross_entropy(model(x), y).backward()
            optimizer.step()
        train()
        seconds = timed(train)
    else:
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
        seconds = timed(lambda: mart_step(model, x, y, optimizer, eps, alpha, 10, 6.0))
    hwm = status_kib('VmHWM:')
    print(json.dumps({"side": "torch", "net": net, "step": step, "batch": batch, "seconds": seconds, "parameters": parameters,
                      "stepPeakMiB": round((hwm - base) / 1024), "processPeakMiB": round(hwm / 1024), "torch": torch.__version__}))


main()
