"""PyTorch CPU half of bench/memory.ts: peak resident memory of one input gradient (CE loss, eval mode)
of the paper's networks, in a fresh process, above the level after the model was built.

Usage: /usr/bin/python3 bench/torch_memory.py densenet121 2
Prints one JSON line {model, batch, residentPeakMiB, seconds, torch}.
"""
import json
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


def status(key):
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1]) * 1024
    raise KeyError(key)


class AttnBlock(nn.Module):
    """IPMI2019-AttnMel attention block: c = phi(relu(W_l l + up(W_g g))), a = softmax(c), g_i = sum a*l."""

    def __init__(self, cl, cg, features, up):
        super().__init__()
        self.W_l = nn.Conv2d(cl, features, 1, bias=False)
        self.W_g = nn.Conv2d(cg, features, 1, bias=False)
        self.phi = nn.Conv2d(features, 1, 1, bias=True)
        self.up = up

    def forward(self, l, g):
        n, c, h, w = l.shape
        gw = F.interpolate(self.W_g(g), scale_factor=self.up, mode='bilinear', align_corners=False)
        scores = self.phi(F.relu(self.W_l(l) + gw))
        a = F.softmax(scores.view(n, 1, -1), dim=2).view(n, 1, h, w)
        return a, torch.mul(a.expand_as(l), l).view(n, c, -1).sum(dim=2)


class AttnVGG(nn.Module):
    """AttnVGG of IPMI2019-AttnMel on VGG16-BN, as src/models/attnVgg.ts."""

    def __init__(self, classes=2):
        super().__init__()
        feats = torchvision.models.vgg16_bn().features
        layers = [m for m in feats if not isinstance(m, nn.MaxPool2d)]
        sizes = [2, 2, 3, 3, 3]
        blocks, i = [], 0
        for s in sizes:
            blocks.append(nn.Sequential(*layers[i:i + 3 * s]))
            i += 3 * s
        self.blocks = nn.ModuleList(blocks)
        self.attn1 = AttnBlock(256, 512, 256, 4)
        self.attn2 = AttnBlock(512, 512, 256, 2)
        self.cls = nn.Linear(512 + 256 + 512, classes)

    def forward(self, x):
        pools = []
        for b in self.blocks:
            x = F.max_pool2d(b(x), 2, 2)
            pools.append(x)
        p3, p4, p5 = pools[2], pools[3], pools[4]
        g = F.adaptive_avg_pool2d(p5, 1).flatten(1)
        _, g1 = self.attn1(p3, p5)
        _, g2 = self.attn2(p4, p5)
        return self.cls(torch.cat([g, g1, g2], dim=1))


def paper_net(name, classes):
    """The paper's network `name` (densenet121, inceptionv3, attnvgg) with `classes` outputs: torchvision's
    DenseNet-121 and Inception-v3 (no aux head), the AttnVGG port above. Shared by the benches' PyTorch halves."""
    if name == 'densenet121':
        return torchvision.models.densenet121(num_classes=classes)
    if name == 'inceptionv3':
        return torchvision.models.inception_v3(num_classes=classes, aux_logits=False, init_weights=False)
    return AttnVGG(classes)


def build(name):
    if name == 'densenet121':
        return paper_net(name, 14), 224
    if name == 'inceptionv3':
        return paper_net(name, 4), 299
    return paper_net(name, 2), 224


def main():
    name, batch = sys.argv[1], int(sys.argv[2])
    threads = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    model, size = build(name)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)  # an attack needs the input gradient only
    x = torch.rand(batch, 3, size, size, requires_grad=True)
    y = torch.zeros(batch, dtype=torch.long)
    before = status('VmRSS:')
    t0 = time.time()
    loss = F.cross_entropy(model(x), y, reduction='sum')
    loss.backward()
    seconds = time.time() - t0
    print(json.dumps({"model": name, "batch": batch, "residentPeakMiB": round((status('VmHWM:') - before) / 2 ** 20, 1), "seconds": round(seconds, 3), "torch": torch.__version__}))


if __name__ == '__main__':
    main()
