"""PyTorch reference for the GAP benchmark: the same generators as src/attacks/gapGenerators.ts
(U-Net of paper.md §4.2 with PyTorch convs, ResNet generator of Poursaeed et al.), the same tiny
classifier, and one generator training step as trainGap does it (clean forward for the
least-likely class, G, GAP scaling with the norm detached, clip, CE, backward, Adam).

Run with /usr/bin/python3 (torch 1.13 CPU):
  /usr/bin/python3 bench/gap/gap_torch.py params        # trainable parameter counts (for tests)
  /usr/bin/python3 bench/gap/gap_torch.py time THREADS  # ms per training step, JSON lines
"""
import json
import sys
import time

import torch
import torch.nn as nn


def down(s, k):
    return (s + 2 - k) // 2 + 1


def auto_depth(side):
    d, s = 0, side
    while s >= 6:
        s = down(s, 4)
        d += 1
    return max(2, d)


class UNet(nn.Module):
    def __init__(self, h, w, c, ngf, depth=None, act='relu', dropout=0.5, dropout_stages=1, out_c=None):
        super().__init__()
        depth = depth or auto_depth(min(h, w))
        out_c = out_c or c
        ks = [3 if i == depth - 1 else 4 for i in range(depth)]
        hs, ws = [h], [w]
        for i in range(depth):
            hs.append(down(hs[i], ks[i]))
            ws.append(down(ws[i], ks[i]))
        f = lambda i: ngf * min(2 ** i, 8)
        self.depth = depth
        self.enc = nn.ModuleList()
        self.enc_bn = nn.ModuleList()
        cin = c
        for i in range(depth):
            self.enc.append(nn.Conv2d(cin, f(i), ks[i], 2, 1))
            self.enc_bn.append(nn.BatchNorm2d(f(i), momentum=0.1, eps=1e-5) if 0 < i < depth - 1 else nn.Identity())
            cin = f(i)
        self.dec = nn.ModuleList()
        self.dec_bn = nn.ModuleList()
        self.drop = nn.ModuleList()
        for j in range(depth):
            level = depth - 1 - j
            kh = hs[level] - 2 * hs[level + 1] + 4
            kw = ws[level] - 2 * ws[level + 1] + 4
            outer = level == 0
            cout = out_c if outer else f(level - 1)
            self.dec.append(nn.ConvTranspose2d(cin, cout, (kh, kw), 2, 1))
            self.dec_bn.append(nn.Identity() if outer else nn.BatchNorm2d(cout, momentum=0.1, eps=1e-5))
            self.drop.append(nn.Dropout(dropout) if (j < dropout_stages and dropout > 0 and not outer) else nn.Identity())
            cin = cout * 2
        self.act = nn.SELU() if act == 'selu' else nn.ReLU()
        self.lrelu = nn.LeakyReLU(0.2)

    def forward(self, x):
        enc = []
        for i in range(self.depth):
            x = self.enc_bn[i](self.enc[i](x if i == 0 else self.lrelu(x)))
            enc.append(x)
        for j in range(self.depth):
            level = self.depth - 1 - j
            y = self.dec[j](self.act(x))
            if level == 0:
                return torch.tanh(y)
            x = torch.cat([self.drop[j](self.dec_bn[j](y)), enc[level - 1]], 1)


class ResBlock(nn.Module):
    def __init__(self, dim, dropout):
        super().__init__()
        self.body = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=False), nn.BatchNorm2d(dim), nn.ReLU(),
                                  nn.Dropout(dropout), nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=False), nn.BatchNorm2d(dim))

    def forward(self, x):
        return x + self.body(x)


def resnet(c, ngf, blocks, dropout=0.5):
    layers = [nn.ReflectionPad2d(3), nn.Conv2d(c, ngf, 7, bias=False), nn.BatchNorm2d(ngf), nn.ReLU()]
    for i in range(2):
        layers += [nn.Conv2d(ngf * 2 ** i, ngf * 2 ** (i + 1), 3, 2, 1, bias=False), nn.BatchNorm2d(ngf * 2 ** (i + 1)), nn.ReLU()]
    layers += [ResBlock(ngf * 4, dropout) for _ in range(blocks)]
    for i in range(2):
        m = 2 ** (2 - i)
        layers += [nn.ConvTranspose2d(ngf * m, ngf * m // 2, 3, 2, 1, output_padding=1, bias=False), nn.BatchNorm2d(ngf * m // 2), nn.ReLU()]
    layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, c, 7), nn.Tanh()]
    return nn.Sequential(*layers)


def classifier(c, classes=10):
    # conv3x3(16, s2) relu, conv3x3(32, s2) relu, global average pool, dense — 'same' padding as in tfjs
    return nn.Sequential(nn.Conv2d(c, 16, 3, 2, 1), nn.ReLU(), nn.Conv2d(16, 32, 3, 2, 1), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, classes))


def scale(raw, m, mean, std):
    u = (raw + 1) * 0.5
    mean_t = torch.tensor(mean).view(1, -1, 1, 1)
    std_t = torch.tensor(std).view(1, -1, 1, 1)
    d = (u - 0.5) / std_t
    norm = d.detach().abs().amax(dim=(2, 3), keepdim=True)
    return d * torch.clamp((m / 255.0) / std_t / norm.clamp_min(1e-12), max=1.0)


CONFIGS = [
    # name, generator, image side, channels, batch
    ('unet-small ngf8 32px b16', lambda: UNet(32, 32, 3, 8), 32, 3, 16),
    ('unet-isic ngf64 224px b4', lambda: UNet(224, 224, 3, 64), 224, 3, 4),
    ('resnet ngf16 6 blocks 64px b8', lambda: resnet(3, 16, 6), 64, 3, 8),
]


def time_step(make_gen, side, c, batch, steps=5):
    torch.manual_seed(0)
    g = make_gen()
    f = classifier(c).eval()
    for p in f.parameters():
        p.requires_grad_(False)
    opt = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.9, 0.999), eps=1e-8)
    x = torch.rand(batch, c, side, side)
    ce = nn.CrossEntropyLoss()

    def step():
        with torch.no_grad():
            target = f(x).argmin(1)
        delta = scale(g(x), 10, [0] * c, [1] * c)
        adv = torch.min(torch.max(x + delta, torch.zeros(1)), torch.ones(1))
        loss = ce(f(adv), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    g.train()
    step()  # warm-up
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - t0) / steps * 1000


def trainable(m):
    return sum(p.numel() for p in m.parameters() if p.requires_grad)


if __name__ == '__main__':
    mode = sys.argv[1] if len(sys.argv) > 1 else 'time'
    if mode == 'params':
        for name, gen in [('unet 224 ngf4', UNet(224, 224, 3, 4)), ('unet 299 ngf4 selu', UNet(299, 299, 3, 4, act='selu')),
                          ('unet 8 ngf4', UNet(8, 8, 1, 4)), ('unet 28 ngf8', UNet(28, 28, 1, 8)), ('unet 224 ngf64', UNet(224, 224, 3, 64)),
                          ('resnet 32 ngf8 2', resnet(3, 8, 2))]:
            out = gen.eval()(torch.zeros(1, gen.enc[0].in_channels if hasattr(gen, 'enc') else 3, *( (224, 224) if '224' in name else (299, 299) if '299' in name else (8, 8) if ' 8 ' in name else (28, 28) if '28' in name else (32, 32))))
            print(json.dumps({'name': name, 'trainable': trainable(gen), 'out': list(out.shape)}))
    else:
        threads = int(sys.argv[2]) if len(sys.argv) > 2 else 1
        torch.set_num_threads(threads)
        for name, gen, side, c, batch in CONFIGS:
            print(json.dumps({'framework': 'pytorch %s' % torch.__version__, 'threads': threads, 'config': name, 'ms_per_step': round(time_step(gen, side, c, batch), 1)}))
