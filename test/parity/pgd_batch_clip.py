"""The authors' PGD (libadver/attack/projected_gradient_descent.py, ProjectGradientDescent.generate) as
their attack scripts call it: clip_min/clip_max = the clean batch's global min/max (Melanoma/pgdattack.py,
ChestX-Ray/pgdattack.py), the loss nn.CrossEntropyLoss on logits[0] (AttnVGG returns a list) or nn.BCELoss
on the sigmoid outputs (CheXNet ends in a sigmoid), random start x0 + U(-eps, eps), not clipped.

args: model ('attnvgg' with sigmoid attention, as their PGD script; 'densenet' with 14 labels), eps, eps_iter,
nb_iter, rand_init, seed. in.npz: x NHWC (normalised), labels, noise [1, H, W, C] (the library's start
U(-eps, eps), used in place of uniform_ so both sides start at the same point). Writes clf.npz and out.npz:
adv<T> (NHWC) after T = 1 and T = nb_iter steps; adv<T>_clipped_start, the same from a start clipped to the
batch range (the library's start); start_outside: how many start values lie outside [min, max] of the batch.
"""
import os

import numpy as np
import torch
import torch.nn as nn
import torchvision

from attnvgg_port import AttnVGG, calibrate_bn
from parity_io import load, nchw, nhwc, save


def generate(model, inputs, y, eps, eps_iter, nb_iter, clip_min, clip_max, criterion, rand_init, noise, clip_start=False):
    """ProjectGradientDescent.generate, untargeted, with the random start given (clip_start: clip it to
    [clip_min, clip_max] first, as the library does; theirs does not)."""
    x = inputs.detach()
    if rand_init:
        x = x + noise  # theirs: x + torch.zeros_like(x).uniform_(-self.eps, self.eps)
        if clip_start:
            x = torch.clamp(x, clip_min, clip_max)
    for i in range(nb_iter):
        model.zero_grad()
        x.requires_grad_()
        with torch.enable_grad():
            logits = model(x)
            if isinstance(logits, list):
                logits = logits[0]
            loss = criterion(logits, y)
        grad = torch.autograd.grad(loss, [x])[0]
        gradient = eps_iter * torch.sign(grad)
        x = x + gradient
        x = torch.min(torch.max(x, inputs - eps), inputs + eps)
        x = torch.clamp(x, clip_min, clip_max)
    return x


class WithSigmoid(nn.Module):  # CheXNet's classifier ends in nn.Sigmoid
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return torch.sigmoid(self.net(x))


folder, a, args = load()
torch.manual_seed(args["seed"])
x = nchw(a["x"])
if args["model"] == "densenet":
    net = torchvision.models.DenseNet(growth_rate=4, block_config=(2, 2, 2, 2), num_init_features=8, num_classes=14)
    calibrate_bn(net, x)
    model, criterion, y = WithSigmoid(net), nn.BCELoss(), torch.from_numpy(a["labels"]).float()
else:
    net = AttnVGG(num_classes=2, attention=True, normalize_attn=False, width=1 / 16)
    calibrate_bn(net, x)
    model, criterion, y = net, nn.CrossEntropyLoss(), torch.from_numpy(a["labels"]).long()
np.savez(os.path.join(folder, "clf.npz"), **{k: v.detach().numpy() for k, v in net.state_dict().items()})
model.eval()
noise = nchw(a["noise"])
clip_min, clip_max = torch.min(x), torch.max(x)
out = {}
for steps in (1, args["nb_iter"]):
    for clip_start in (False, True):
        adv = generate(model, x, y, args["eps"], args["eps_iter"], steps, clip_min, clip_max, criterion, args["rand_init"], noise, clip_start)
        out["adv%d%s" % (steps, "_clipped_start" if clip_start else "")] = nhwc(adv)
start = x + noise
outside = int(((start < clip_min) | (start > clip_max)).sum())
out["start_outside"] = np.array([outside])
save(folder, out)
