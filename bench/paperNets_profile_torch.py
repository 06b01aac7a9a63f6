"""PyTorch twin of bench/kernels.profile.ts for the paper networks: per-op CPU time of one PGD step (eval
mode, input gradient only) and one training step (train mode, SGD), torch.profiler, medians over --reps.

Usage: /usr/bin/python3 bench/paperNets_profile_torch.py [--nets inceptionv3,attnvgg] [--batch 2]
       [--threads 2] [--reps 3] [--top 30] [--by-shape]
Prints, per net and step, the wall time of the profiled step and a table of self CPU time per op (ms),
summed over the step (autograd's backward nodes appear as their own ops: ConvolutionBackward0, ...).
"""
import argparse
import os
import statistics
import sys
import time

try:
    import torch
    import torch.nn.functional as F
    from torch.profiler import ProfilerActivity, profile
except ImportError as exc:
    print(f'(skipped: torch unavailable: {exc})')
    sys.exit(0)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_memory import paper_net  # noqa: E402

SIZES = {'densenet121': (224, 14), 'inceptionv3': (299, 4), 'attnvgg': (224, 2)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--nets', default='inceptionv3,attnvgg')
    ap.add_argument('--batch', type=int, default=2)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--reps', type=int, default=3)
    ap.add_argument('--top', type=int, default=30)
    ap.add_argument('--by-shape', action='store_true')
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    for name in a.nets.split(','):
        size, classes = SIZES[name]
        model = paper_net(name, classes)
        x = torch.rand(a.batch, 3, size, size)
        y = torch.arange(a.batch) % classes
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01)

        def pgd_step():
            model.eval()
            for p in model.parameters():
                p.requires_grad_(False)
            xa = x.clone().requires_grad_()
            loss = F.cross_entropy(model(xa), y, reduction='sum')
            g = torch.autograd.grad(loss, [xa])[0]
            torch.clamp(xa.detach() + 2 / 255 * torch.sign(g), 0, 1)

        def train_step():
            model.train()
            for p in model.parameters():
                p.requires_grad_(True)
            optimizer.zero_grad()
            F.cross_entropy(model(x), y).backward()
            optimizer.step()

        for what, step in (('PGD step', pgd_step), ('training step', train_step)):
            step()
            step()
            walls, tables = [], []
            for _ in range(a.reps):
                t0 = time.perf_counter()
                with profile(activities=[ProfilerActivity.CPU], record_shapes=a.by_shape) as prof:
                    step()
                walls.append((time.perf_counter() - t0) * 1000)
                table = {}
                for ev in prof.key_averages(group_by_input_shape=a.by_shape):
                    key = ev.key + (f' {ev.input_shapes}' if a.by_shape else '')
                    table[key] = table.get(key, 0.0) + ev.self_cpu_time_total / 1000
                tables.append(table)
            keys = set(k for t in tables for k in t)
            rows = sorted(((k, statistics.median([t.get(k, 0.0) for t in tables])) for k in keys), key=lambda r: -r[1])
            total = statistics.median([sum(t.values()) for t in tables])
            print(f'\n{name} {what} (torch {a.threads} threads, batch {a.batch}): wall (profiled) {statistics.median(walls):.1f} ms, self CPU {total:.1f} ms')
            print('| op | self CPU ms |\n|---|---|')
            for k, v in rows[:a.top]:
                if v >= 0.5:
                    print(f'| {k} | {v:.1f} |')


main()
