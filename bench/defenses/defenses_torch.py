"""PyTorch CPU counterpart of defenses.bench.ts: one epoch of each defense, the same net, data shape
(64 images 28x28x3, 2 classes, batches of 16), attack settings and loop (inference-mode attack,
training-mode update, SGD). Data are random values of the demo set's shape (timing does not depend
on them). Run: /usr/bin/python3 bench/defenses/defenses_torch.py [threads]"""
import sys, time, random
import torch, torch.nn as nn, torch.nn.functional as F

torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 1)
torch.manual_seed(1); random.seed(1)

def net():
    return nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(32 * 7 * 7, 64), nn.ReLU(), nn.Linear(64, 2))

x_all = torch.rand(64, 3, 28, 28); y_all = torch.randint(0, 2, (64,))
batches = [(x_all[i:i + 16], y_all[i:i + 16]) for i in range(0, 64, 16)]

def pgd(m, x, y, eps, steps, alpha, start, loss_fn):
    m.eval()
    adv = (x + start(x)).clamp(0, 1).detach()
    adv = torch.min(torch.max(adv, x - eps), x + eps)
    for _ in range(steps):
        adv.requires_grad_(True)
        g, = torch.autograd.grad(loss_fn(m(adv)), adv)
        adv = torch.min(torch.max(adv.detach() + alpha * g.sign(), x - eps), x + eps).clamp(0, 1)
    m.train()
    return adv.detach()

uniform = lambda eps: (lambda x: torch.empty_like(x).uniform_(-eps, eps))
gauss = lambda x: 0.001 * torch.randn_like(x)

def mart(m, x, y, eps, steps, alpha, beta):
    adv = pgd(m, x, y, eps, steps, alpha, gauss, lambda z: F.cross_entropy(z, y, reduction='sum'))
    zc, za = m(x), m(adv)
    pa = F.softmax(za, 1); pc = F.softmax(zc, 1)
    top2 = torch.argsort(pa, 1)[:, -2:]
    ny = torch.where(top2[:, -1] == y, top2[:, -2], top2[:, -1])
    l_adv = F.cross_entropy(za, y) + F.nll_loss(torch.log(1.0001 - pa + 1e-12), ny)
    kl = (pc * (torch.log(pc + 1e-12) - torch.log(pa + 1e-12))).sum(1)
    return l_adv + beta * (kl * (1.0000001 - pc.gather(1, y[:, None]).squeeze(1))).mean()

def trades(m, x, y, eps, steps, alpha, beta):
    m.eval(); pc0 = F.softmax(m(x), 1).detach(); m.train()
    adv = pgd(m, x, y, eps, steps, alpha, gauss, lambda z: F.kl_div(F.log_softmax(z, 1), pc0, reduction='sum'))
    zc, za = m(x), m(adv)
    return F.cross_entropy(zc, y) + beta * F.kl_div(F.log_softmax(za, 1), F.softmax(zc, 1), reduction='batchmean')

def epoch(m, opt, kind):
    for x, y in batches:
        if kind == 'clean':
            loss = F.cross_entropy(m(x), y)
        elif kind == 'pgd':
            loss = F.cross_entropy(m(pgd(m, x, y, 4 / 255, 4, 1 / 255, uniform(4 / 255), lambda z: F.cross_entropy(z, y, reduction='sum'))), y)
        elif kind == 'mp':
            if random.random() < 0.5:
                xt = x
            else:
                eps = random.uniform(0.01, 0.04); t = random.randint(1, 9)
                xt = pgd(m, x, y, eps, t, 1 / 255, uniform(eps), lambda z: F.cross_entropy(z, y, reduction='sum'))
            loss = F.cross_entropy(m(xt), y)
        elif kind == 'mart':
            loss = mart(m, x, y, 8 / 255, 4, 2 / 255, 6.0)
        else:
            loss = trades(m, x, y, 8 / 255, 4, 2 / 255, 6.0)
        opt.zero_grad(); loss.backward(); opt.step()

print(f'PyTorch {torch.__version__} CPU, {torch.get_num_threads()} thread(s); median of 3 epochs (after a warm-up epoch)')
for name, kind in [('clean (no attack)', 'clean'), ('PGD-AT (eps 4/255, T 4, alpha 1/255)', 'pgd'), ('MPAdvT', 'mp'), ('MAAdvT/MART', 'mart'), ('TRADES', 'trades')]:
    m = net(); m.train(); opt = torch.optim.SGD(m.parameters(), lr=0.01)
    epoch(m, opt, kind)
    ts = []
    for _ in range(3):
        t0 = time.perf_counter(); epoch(m, opt, kind); ts.append(time.perf_counter() - t0)
    print(f'{name}: {sorted(ts)[1] * 1000:.0f} ms/epoch')
