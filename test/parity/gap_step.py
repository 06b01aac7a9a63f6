"""One GAP training step of the authors' code (gap_port.train_step) on tiny nets, for gapStep.test.ts.

args: classifier ('attnvgg': the IPMI AttnVGG with softmax attention at width 1/16, as their ISIC GAP script
attacks; 'densenet': a reduced torchvision DenseNet with 14 sigmoid outputs, as their ChestX-ray script),
mag_in, mean, std, lr, seed. in.npz: x [N, 224, 224, 3] normalised NHWC; labels; mask [N, 7, 7, 8·ngf] NHWC
(the library's dropout mask for the first decoder stage).
Writes clf.npz and gen.npz (state dicts before the step), and out.npz: loss, logits (adversarial, the
step's forward pass), delta (the scaled perturbation, NHWC), grad.<param> (the generator's gradients before
optimizer.step(), PyTorch layout) and after.<param> (the parameters after the Adam step).
"""
import os

import numpy as np
import torch
import torchvision

from attnvgg_port import AttnVGG, calibrate_bn
from gap_port import define_generator, train_step
from parity_io import load, nchw, nhwc, save

folder, a, args = load()
torch.manual_seed(args["seed"])
x = nchw(a["x"])
multi = args["classifier"] == "densenet"
if multi:
    clf = torchvision.models.DenseNet(growth_rate=4, block_config=(2, 2, 2, 2), num_init_features=8, num_classes=14)
else:
    clf = AttnVGG(num_classes=2, attention=True, normalize_attn=True, width=1 / 16)
calibrate_bn(clf, x)
gen = define_generator("isic", args["ngf"])
np.savez(os.path.join(folder, "clf.npz"), **{k: v.detach().numpy() for k, v in clf.state_dict().items()})
np.savez(os.path.join(folder, "gen.npz"), **{k: v.detach().numpy() for k, v in gen.state_dict().items()})

clf.eval()
gen.train()
gen.dropout.mask = nchw(a["mask"])
optimizer = torch.optim.Adam(gen.parameters(), lr=args["lr"], betas=(0.9, 0.999))
labels = torch.from_numpy(a["labels"]).long() if not multi else torch.from_numpy(a["labels"]).float()
loss, logits, grads, delta = train_step(clf, gen, optimizer, x, labels, args["mean"], args["std"], args["mag_in"], multi_label=multi)
out = {"loss": np.array([loss]), "logits": logits, "delta": nhwc(delta)}
for name, g in grads.items():
    out["grad." + name] = g
for name, p in gen.named_parameters():
    out["after." + name] = p.detach()
save(folder, out)
