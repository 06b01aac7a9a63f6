"""APGD (Croce & Hein 2020, Alg. 1) in PyTorch, ported from the logic of attack_single_run in
fra31/auto-attack's autopgd_base.py (written anew here: the same steps, checkpoints, momentum and
restart-from-best), for the parity suite of medrobust's apgd (test/parity/apgd.test.ts).

The model is a tiny fixed MLP, z = tanh(x W1 + b1) W2 + b2, on flattened NHWC images. The run starts
from the point medrobust drew (`x0`), so only the deterministic part is compared. `first_compare`
chooses what the first step's loss is compared with in the first oscillation window: 'start' (the loss
at x0, the paper's Alg. 1 and medrobust) or 'zero' (the reference code, whose loss_steps[-1] wraps to an
unfilled 0). `dtype` is float32 or float64.

in.npz: x [N, D], x0 [N, D], y [N] int32, w1, b1, w2, b2, (targets [N] int32 for dlr-targeted)
args.json: eps, norm ('linf' | 'l2'), steps, loss ('ce' | 'dlr' | 'dlr-targeted' | 'margin'), rho,
           momentum, dtype, first_compare
out.npz: losses [steps + 1, N] (start, then every step), iterates [steps + 1, N, D], etas [steps, N] (after each checkpoint),
         x_best, loss_best, x_best_adv, fooled, clear [N]: the first step at which a decision of that
         image compared two different losses closer than 1e-5 (relative): float32 rounding may decide it
         differently elsewhere, so the trajectories can part from there (steps when never)
"""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
from parity_io import load, save  # noqa: E402


def main():
    folder, arrays, args = load()
    dt = torch.float64 if args['dtype'] == 'float64' else torch.float32
    t = lambda a: torch.tensor(np.asarray(a), dtype=dt)
    x, x0 = t(arrays['x']), t(arrays['x0'])
    y = torch.tensor(np.asarray(arrays['y']), dtype=torch.long)
    w1, b1, w2, b2 = t(arrays['w1']), t(arrays['b1']), t(arrays['w2']), t(arrays['b2'])
    targets = torch.tensor(np.asarray(arrays['targets']), dtype=torch.long) if 'targets' in arrays else None
    eps, norm, steps, kind = args['eps'], args['norm'], args['steps'], args['loss']
    rho, momentum = args['rho'], args['momentum']
    n = x.shape[0]
    u = torch.arange(n)

    def model(v):
        return torch.tanh(v @ w1 + b1) @ w2 + b2

    def loss_of(z):
        if kind == 'ce':
            return torch.nn.functional.cross_entropy(z, y, reduction='none')
        if kind == 'margin':
            other = z.clone()
            other[u, y] = -float('inf')
            return other.max(1)[0] - z[u, y]
        zs, ind = z.sort(dim=1)
        if kind == 'dlr':
            top_is_y = (ind[:, -1] == y).to(dt)
            return -(z[u, y] - zs[:, -2] * top_is_y - zs[:, -1] * (1 - top_is_y)) / (zs[:, -1] - zs[:, -3] + 1e-12)
        return -(z[u, y] - z[u, targets]) / (zs[:, -1] - 0.5 * (zs[:, -3] + zs[:, -4]) + 1e-12)

    def unit(v):  # the reference's normalize: v / (||v|| + 1e-12)
        if norm == 'linf':
            s = v.abs().max(1, keepdim=True)[0]
        else:
            s = (v ** 2).sum(1, keepdim=True).sqrt()
        return v / (s + 1e-12)

    def project(v):
        if norm == 'linf':
            return torch.clamp(torch.min(torch.max(v, x - eps), x + eps), 0.0, 1.0)
        d = v - x
        r = (d ** 2).sum(1, keepdim=True).sqrt()
        return torch.clamp(x + unit(d) * torch.min(eps * torch.ones_like(r), r), 0.0, 1.0)

    def evaluate(v):
        v = v.clone().requires_grad_(True)
        z = model(v)
        l = loss_of(z)
        g = torch.autograd.grad(l.sum(), [v])[0].detach()
        return l.detach(), g, z.detach()

    first = max(int(0.22 * steps), 1)
    minimum = max(int(0.06 * steps), 1)
    decrement = max(int(0.03 * steps), 1)

    x_adv = torch.clamp(x0.clone(), 0.0, 1.0)
    loss, grad, z = evaluate(x_adv)
    x_best, grad_best, loss_best = x_adv.clone(), grad.clone(), loss.clone()
    x_best_adv = x_adv.clone()
    fooled = z.max(1)[1] != y
    losses = [loss.clone()]
    iterates = [x_adv.clone()]
    etas = []
    eta = 2.0 * eps * torch.ones(n, 1, dtype=dt)
    x_old = x_adv.clone()
    window, since = first, 0
    loss_best_last = loss_best.clone()
    reduced_last = torch.ones(n, dtype=dt)
    loss_steps = []
    prev_of_first = loss.clone() if args['first_compare'] == 'start' else torch.zeros(n, dtype=dt)
    clear = torch.full((n,), steps, dtype=torch.int32)

    def close_call(a, b, i):
        d = (a - b).abs()
        near = (d > 0) & (d <= 1e-5 * torch.max(torch.ones_like(a), torch.max(a.abs(), b.abs())))
        clear[near & (clear == steps)] = i

    for i in range(steps):
        a = momentum if i > 0 else 1.0
        with torch.no_grad():
            move = x_adv - x_old
            x_old = x_adv.clone()
            direction = torch.sign(grad) if norm == 'linf' else unit(grad)
            z1 = project(x_adv + eta * direction)
            x_adv = project(x_adv + (z1 - x_adv) * a + move * (1 - a))
        loss, grad, z = evaluate(x_adv)
        iterates.append(x_adv.clone())
        won = z.max(1)[1] != y
        x_best_adv[won] = x_adv[won]
        fooled = fooled | won
        loss_steps.append(loss.clone())
        losses.append(loss.clone())
        close_call(loss, loss_steps[i - 1] if i > 0 else prev_of_first, i)
        close_call(loss, loss_best, i)
        better = loss > loss_best
        x_best[better] = x_adv[better]
        grad_best[better] = grad[better]
        loss_best[better] = loss[better]
        since += 1
        if since == window:
            rises = torch.zeros(n, dtype=dt)
            for c in range(window):
                j = i - c
                prev = loss_steps[j - 1] if j - 1 >= 0 else prev_of_first
                rises += (loss_steps[j] > prev).to(dt)
            close_call(loss_best_last, loss_best, i)
            oscillating = (rises <= window * rho).to(dt)
            stalled = (1.0 - reduced_last) * (loss_best_last >= loss_best).to(dt)
            reduce = torch.max(oscillating, stalled)
            reduced_last = reduce.clone()
            loss_best_last = loss_best.clone()
            r = reduce > 0
            eta[r] /= 2.0
            x_adv[r] = x_best[r]
            grad[r] = grad_best[r]
            window = max(window - decrement, minimum)
            since = 0
        etas.append(eta[:, 0].clone())

    save(folder, {
        'losses': torch.stack(losses), 'iterates': torch.stack(iterates), 'etas': torch.stack(etas), 'x_best': x_best, 'loss_best': loss_best,
        'x_best_adv': x_best_adv, 'fooled': fooled.to(torch.int32), 'clear': clear,
    })


if __name__ == '__main__':
    main()
