"""The authors' GAP generators (gap_port.py) against the library's gapUnet presets.

args: kind ('isic' 224 px / 'messidor' 299 px), ngf, seed. in.npz: x [N, H, W, 3] NHWC, mask [N, h, w, 8·ngf]
NHWC (the dropout mask of the first decoder stage, 0 or 2). Writes <folder>/checkpoint.npz (the state dict
with trained-looking batch-norm statistics) and out.npz:
- params: the trainable parameter count; fan_bound_<name>: 1/sqrt(fan_in) of each conv/conv-transpose
  weight, as PyTorch's default init uses it (init_<name>: the initial weight itself);
- eval: the output in eval mode (running statistics); train: the output in training mode (batch statistics,
  the given dropout mask), then the running statistics after that pass (mean_<norm>, var_<norm>);
- eval_raw, train_raw: the same with a LeakyReLU that is not in place (skips carry e_i, not LeakyReLU(e_i)).
"""
import copy
import os

import numpy as np
import torch
import torch.nn as nn

from gap_port import define_generator
from parity_io import load, nchw, nhwc, save

folder, a, args = load()
torch.manual_seed(args["seed"])
gen = define_generator(args["kind"], args["ngf"])
out = {"params": np.array([sum(p.numel() for p in gen.parameters())])}
for name, p in gen.named_parameters():
    if p.dim() == 4:
        fan_in, _ = nn.init._calculate_fan_in_and_fan_out(p)
        out["fan_bound_" + name] = np.array([1.0 / np.sqrt(fan_in)])
        out["init_" + name] = p.detach().numpy().ravel()
g = torch.Generator().manual_seed(7)
for m in gen.modules():
    if isinstance(m, nn.BatchNorm2d):
        n = m.num_features
        m.running_mean.copy_(0.2 * torch.randn(n, generator=g))
        m.running_var.copy_(0.5 + torch.rand(n, generator=g))
        m.weight.data.copy_(1 + 0.2 * torch.randn(n, generator=g))
        m.bias.data.copy_(0.2 * torch.randn(n, generator=g))
np.savez(os.path.join(folder, "checkpoint.npz"), **{k: v.detach().numpy() for k, v in gen.state_dict().items()})

x = nchw(a["x"])
mask = nchw(a["mask"])
raw = copy.deepcopy(gen)
raw.leaky_relu = nn.LeakyReLU(0.2, False)
for tag, net in (("", gen), ("_raw", raw)):
    net.eval()
    with torch.no_grad():
        out["eval" + tag] = nhwc(net(x))
    net.train()
    net.dropout.mask = mask
    with torch.no_grad():
        out["train" + tag] = nhwc(net(x))
for name in ("norm", "norm2", "norm4", "norm8"):
    out["mean_" + name] = getattr(gen, name).running_mean
    out["var_" + name] = getattr(gen, name).running_var
save(folder, out)
