"""PyTorch half of bench/gpu.ts: forward, PGD-10 and one training step of the paper's three networks on CUDA
(or the CPU, to try the script), with torch.cuda.max_memory_allocated per step.

Usage: python3 bench/gpu_torch.py [--device cuda|cpu] [--models densenet121,inceptionv3,attnvgg] [--batch 8]
         [--reps 3] [--size <px>] [--tf32] [--json out.json]

The networks are bench/paperNets_torch.py's: torchvision's DenseNet-121 (14 labels, multi-label, mean binary
cross-entropy) and Inception-v3 (4 grades, no aux head) and bench/torch_memory.py's port of AttnVGG (2
classes), at the paper's sizes (224, 299, 224) unless --size. The steps are bench/gpu.ts's: forward (eval,
no_grad); PGD-10 (eval, ε = 8/255, step 2/255, sign of the input gradient of the mean loss, box clamp);
one SGD step (momentum 0.9, lr 0.01) in train mode. Medians of --reps after one warm-up (cuDNN autotuning and
lazy initialisation fall in the warm-up, whose time is reported apart); every timing ends with
torch.cuda.synchronize(). Float32 throughout: TF32 is off unless --tf32 (WebGPU computes in float32).
Memory: torch.cuda.max_memory_allocated over the step's runs (weights, optimizer state and inputs included,
as tf.memory().numBytes includes every live tensor) and max_memory_reserved (the caching allocator's pool).
One PGD-10 result is checked as in bench/gpu.ts: ‖δ‖∞ ≤ ε, inside [0, 1], finite, loss before and after.
Prints progress lines and writes one JSON object (--json).
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_memory import paper_net  # noqa: E402

NETS = {
    'densenet121': dict(title='DenseNet-121 (ChestX-ray14, 14 labels)', side=224, classes=14, multilabel=True),
    'inceptionv3': dict(title='Inception-v3 (Messidor, 4 grades)', side=299, classes=4, multilabel=False),
    'attnvgg': dict(title='AttnVGG (ISIC 2016, 2 classes)', side=224, classes=2, multilabel=False),
}
T0 = time.perf_counter()


def progress(msg):
    print(f'[gpu_torch.py +{time.perf_counter() - T0:.1f} s] {msg}', flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--device', default='cuda')
    ap.add_argument('--models', default='densenet121,inceptionv3,attnvgg')
    ap.add_argument('--batch', type=int, default=8)
    ap.add_argument('--reps', type=int, default=3)
    ap.add_argument('--size', type=int, default=None)
    ap.add_argument('--tf32', action='store_true')
    ap.add_argument('--threads', type=int, default=None)
    ap.add_argument('--json', default=None)
    a = ap.parse_args()
    dev = torch.device(a.device)
    cuda = dev.type == 'cuda'
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.backends.cuda.matmul.allow_tf32 = a.tf32
    torch.backends.cudnn.allow_tf32 = a.tf32
    torch.backends.cudnn.benchmark = True
    info = {'torch': torch.__version__, 'torchvision': torchvision.__version__, 'device': str(dev), 'tf32': a.tf32,
            'cudnnBenchmark': True, 'batch': a.batch, 'reps': a.reps}
    if cuda:
        p = torch.cuda.get_device_properties(dev)
        info.update(gpu=p.name, totalMemoryMiB=round(p.total_memory / 2 ** 20), multiprocessors=p.multi_processor_count,
                    cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version())
    progress(f'torch {torch.__version__} on {info.get("gpu", a.device)}')
    out = dict(info, rows=[])

    def save():
        if a.json:
            with open(a.json, 'w') as f:
                json.dump(out, f, indent=2)

    def sync():
        if cuda:
            torch.cuda.synchronize(dev)

    def timed(label, fn):
        if cuda:
            torch.cuda.reset_peak_memory_stats(dev)
        s = time.perf_counter()
        fn()
        sync()
        first = (time.perf_counter() - s) * 1000
        progress(f'  {label}: warm-up {first:.0f} ms')
        runs = []
        for _ in range(a.reps):
            s = time.perf_counter()
            fn()
            sync()
            runs.append((time.perf_counter() - s) * 1000)
        med = statistics.median(runs)
        progress(f'  {label}: median {med:.1f} ms of [{", ".join(f"{t:.1f}" for t in runs)}]')
        r = {'firstMs': first, 'medianMs': med, 'allMs': runs}
        if cuda:
            r.update(maxAllocatedMiB=round(torch.cuda.max_memory_allocated(dev) / 2 ** 20, 1),
                     maxReservedMiB=round(torch.cuda.max_memory_reserved(dev) / 2 ** 20, 1))
        return r

    for key in a.models.split(','):
        spec = NETS[key]
        side = a.size or spec['side']
        started = time.perf_counter()
        progress(f'{key}: building {side}×{side}, batch {a.batch}')
        torch.manual_seed(1)
        model = paper_net(key, spec['classes']).to(dev)
        parameters = sum(p.numel() for p in model.parameters())
        x = torch.rand(a.batch, 3, side, side, device=dev)
        if spec['multilabel']:
            y = (torch.rand(a.batch, spec['classes'], device=dev) > 0.8).float()
            loss_of = F.binary_cross_entropy_with_logits
        else:
            y = torch.arange(a.batch, device=dev) % spec['classes']
            loss_of = F.cross_entropy
        eps, alpha = 8 / 255, 2 / 255

        model.eval()

        def forward():
            with torch.no_grad():
                model(x)
        fwd = timed('forward', forward)

        for p in model.parameters():
            p.requires_grad_(False)  # an attack needs the input gradient only

        def pgd10():
            adv = x.clone()
            for _ in range(10):
                adv.requires_grad_(True)
                g, = torch.autograd.grad(loss_of(model(adv), y), [adv])
                adv = torch.min(torch.max(adv.detach() + alpha * torch.sign(g), (x - eps).clamp(min=0)), (x + eps).clamp(max=1))
            return adv
        pg = timed('PGD-10', pgd10)
        adv = pgd10()
        with torch.no_grad():
            d = adv - x
            linf, lo, hi = d.abs().max().item(), adv.min().item(), adv.max().item()
            changed = (d.abs() > 1e-7).float().mean().item()
            finite = bool(torch.isfinite(adv).all().item())
            clean, advl = loss_of(model(x), y).item(), loss_of(model(adv), y).item()
        check = dict(linfDelta=linf, epsilon=eps, withinEpsilon=linf <= eps + 1e-6, min=lo, max=hi, inBox=lo >= 0 and hi <= 1,
                     finite=finite and all(map(lambda v: v == v and abs(v) != float('inf'), (clean, advl))),
                     changedFraction=changed, cleanLoss=clean, advLoss=advl, lossIncrease=advl - clean)
        # PGD ascends the loss: it must not have fallen (beyond float noise); strictly up is reported apart
        check['lossIncreased'] = advl > clean
        check['ok'] = check['withinEpsilon'] and check['inBox'] and check['finite'] and advl >= clean - 1e-6 * max(1.0, abs(clean))
        progress(f'  PGD check: ‖δ‖∞ {linf:.6f} (ε {eps:.6f}), range [{lo:.4f}, {hi:.4f}], changed {100 * changed:.1f} %, '
                 f'loss {clean:.6g} → {advl:.6g}: {"ok" if check["ok"] else "FAILED"}')
        del adv, d

        for p in model.parameters():
            p.requires_grad_(True)
        model.train()
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

        def train():
            opt.zero_grad(set_to_none=True)
            loss_of(model(x), y).backward()
            opt.step()
        tr = timed('training step', train)
        row = dict(key=key, model=spec['title'], input=f'{side}×{side}×3', side=side, batch=a.batch, parameters=parameters,
                   forward=fwd, pgd10=pg, trainStep=tr, forwardMs=fwd['medianMs'], pgd10Ms=pg['medianMs'], trainStepMs=tr['medianMs'],
                   pgdCheck=check, seconds=time.perf_counter() - started)
        out['rows'].append(row)
        save()
        mem = f', max allocated {max(fwd["maxAllocatedMiB"], pg["maxAllocatedMiB"], tr["maxAllocatedMiB"]):.0f} MiB' if cuda else ''
        progress(f'{spec["title"]} {side}×{side} b{a.batch}: forward {fwd["medianMs"]:.1f} ms, PGD-10 {pg["medianMs"]:.1f} ms, '
                 f'training step {tr["medianMs"]:.1f} ms{mem}; PGD check {"ok" if check["ok"] else "FAILED"}')
        del model, opt, x, y
        if cuda:
            torch.cuda.empty_cache()
    save()


main()
