"""Writes a checkpoint in one of the paper's real layouts, as `np.savez` of its state_dict (keys verbatim),
and PyTorch's logits and input gradient on the given images, for the weight-layout parity tests.

args.layout:
- "attnvgg": the IPMI2019-AttnMel AttnVGG (attnvgg_port.py), keys `conv_block1.0.weight` ... `cls.weight`
  (the authors load checkpoint['state_dict'] into a plain AttnVGG, so no `module.`).
- "chexnet": arnoweng/CheXNet's `DenseNet121` wrapper (self.densenet121 = torchvision densenet121 with
  classifier Sequential(Linear, Sigmoid)) inside nn.DataParallel, with torchvision's old DenseNet names
  (`norm.1`, `conv.1`, ...) as in CheXNet's model.pth.tar: `module.densenet121.features...norm.1.weight`.
- "messidor": the authors' Messidor `InceptionV3` wrapper (self.model = inception_v3 with fc and AuxLogits.fc
  replaced) inside nn.DataParallel: `module.model.Conv2d_1a_3x3.conv.weight`, `module.model.AuxLogits.fc.weight`.
- "torchvision-densenet": a plain torchvision DenseNet state_dict (`features.denseblock1.denselayer1.norm1.weight`).
Reduced widths keep the tests on a CPU: DenseNet(growth_rate=4, block_config=(2,2,2,2), num_init_features=8),
Inception-v3 with every channel count / 8, AttnVGG width 1/16.

in.npz: x [N, H, W, 3] NHWC. out.npz: logits [N, classes] (before CheXNet's sigmoid), grad = d(sum of
logits * w)/dx NHWC with w = args.weights, and both again in float64 (logits64, grad64: PyTorch's float32
result is judged against them too, since max pools and ReLUs make some gradients sensitive to rounding);
the checkpoint goes to <folder>/checkpoint.npz.
"""
import copy
import os
import re

import numpy as np
import torch
import torch.nn as nn
import torchvision
from torchvision.models.inception import BasicConv2d, Inception3

from attnvgg_port import AttnVGG, calibrate_bn
from parity_io import load, nchw, nhwc, save

folder, a, args = load()
torch.manual_seed(args.get("seed", 0))
layout = args["layout"]
classes = args["classes"]


class DenseNet121(nn.Module):  # arnoweng/CheXNet model.py, reduced
    def __init__(self, out_size):
        super(DenseNet121, self).__init__()
        self.densenet121 = torchvision.models.DenseNet(growth_rate=4, block_config=(2, 2, 2, 2), num_init_features=8)
        num_ftrs = self.densenet121.classifier.in_features
        self.densenet121.classifier = nn.Sequential(nn.Linear(num_ftrs, out_size), nn.Sigmoid())

    def forward(self, x):
        return self.densenet121(x)


def eighth(in_channels, out_channels, **kwargs):
    return BasicConv2d(in_channels if in_channels == 3 else in_channels // 8, out_channels // 8, **kwargs)


class InceptionV3(nn.Module):  # EvaluatingRobustness Messidor/networks.py, reduced
    def __init__(self, num_classes):
        super(InceptionV3, self).__init__()
        blocks = [eighth] + [lambda *p, b=b, **k: b(*p, conv_block=eighth, **k) for b in (
            torchvision.models.inception.InceptionA, torchvision.models.inception.InceptionB, torchvision.models.inception.InceptionC,
            torchvision.models.inception.InceptionD, torchvision.models.inception.InceptionE, torchvision.models.inception.InceptionAux)]
        model = Inception3(num_classes=1000, aux_logits=True, transform_input=False, inception_blocks=blocks, init_weights=True)
        model.AuxLogits.fc = nn.Linear(768 // 8, num_classes)
        model.fc = nn.Linear(2048 // 8, num_classes)
        self.model = model

    def forward(self, x):
        return self.model(x)


def logits_of(net, x):
    out = net(x)
    if isinstance(out, (list, tuple)):
        out = out[0]
    return out


x = nchw(a["x"])
if layout == "attnvgg":
    net = AttnVGG(num_classes=classes, attention=True, normalize_attn=args.get("attention", "softmax") == "softmax", width=args["width"])
    calibrate_bn(net, x)
    state = net.state_dict()
elif layout == "chexnet":
    net = DenseNet121(classes)
    calibrate_bn(net, x)
    wrapped = nn.DataParallel(net)
    state = {}
    for k, v in wrapped.state_dict().items():  # back to the names of torchvision < 0.3, as in model.pth.tar
        state[re.sub(r"(denselayer\d+\.(?:norm|relu|conv))([12])\.", r"\1.\2.", k)] = v
    net.densenet121.classifier = net.densenet121.classifier[0]  # logits, before CheXNet's sigmoid
elif layout == "messidor":
    net = InceptionV3(classes)
    calibrate_bn(net, x)
    state = nn.DataParallel(net).state_dict()
elif layout == "torchvision-densenet":
    net = torchvision.models.DenseNet(growth_rate=4, block_config=(2, 2, 2, 2), num_init_features=8, num_classes=classes)
    calibrate_bn(net, x)
    state = net.state_dict()
else:
    raise SystemExit("unknown layout " + layout)

np.savez(os.path.join(folder, "checkpoint.npz"), **{k: v.detach().cpu().numpy() for k, v in state.items()})
net.eval()
w = torch.tensor(args["weights"], dtype=torch.float64)


def run(model, x):
    x = x.clone().requires_grad_(True)
    logits = logits_of(model, x)
    (grad,) = torch.autograd.grad((logits * w.to(x.dtype)).sum(), x)
    return logits, nhwc(grad)


logits, grad = run(net, x)
logits64, grad64 = run(copy.deepcopy(net).double(), x.double())  # the exact answer, to judge float32 rounding
out = {"logits": logits, "grad": grad, "logits64": logits64, "grad64": grad64}
if layout == "attnvgg":  # the attention maps a1, a2 (NHWC)
    with torch.no_grad():
        _, a1, a2 = net(x)
    out["a1"], out["a2"] = nhwc(a1), nhwc(a2)
save(folder, out)
