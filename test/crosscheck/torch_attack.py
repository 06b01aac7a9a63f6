"""Reference FGSM/PGD in PyTorch for the cross-check in torchCrossCheck.test.ts.

Reads a JSON spec (weights in tfjs layouts, images NHWC, labels, attack settings) from argv[1],
builds the same tiny CNN (conv3x3 same + relu, maxpool 2, flatten in NHWC order, dense), runs
FGSM and PGD without random start (sum-reduced cross-entropy, sign steps, L-inf projection,
clip to [0, 1]) and writes the adversarial images and input gradients as JSON to argv[2].
"""
import json
import sys

import torch
import torch.nn.functional as F

torch.set_num_threads(1)
spec = json.load(open(sys.argv[1]))
kernel = torch.tensor(spec["kernel"], dtype=torch.float32).permute(3, 2, 0, 1).contiguous()  # HWIO -> OIHW
bias = torch.tensor(spec["bias"], dtype=torch.float32)
dense_w = torch.tensor(spec["denseKernel"], dtype=torch.float32)  # [D, C]
dense_b = torch.tensor(spec["denseBias"], dtype=torch.float32)
images = torch.tensor(spec["images"], dtype=torch.float32)  # NHWC
labels = torch.tensor(spec["labels"], dtype=torch.int64)


def logits_of(x_nhwc):
    x = x_nhwc.permute(0, 3, 1, 2)
    h = F.relu(F.conv2d(x, kernel, bias, padding=1))
    h = F.max_pool2d(h, 2)
    h = h.permute(0, 2, 3, 1).reshape(h.shape[0], -1)  # flatten in NHWC order like tfjs
    return h @ dense_w + dense_b


def grad_of(x):
    x = x.clone().requires_grad_(True)
    loss = F.cross_entropy(logits_of(x), labels, reduction="sum")
    (g,) = torch.autograd.grad(loss, x)
    return g


def fgsm(x, eps):
    return torch.clamp(x + eps * torch.sign(grad_of(x)), 0, 1)


def pgd(x, eps, alpha, steps):
    adv = x.clone()
    for _ in range(steps):
        adv = adv + alpha * torch.sign(grad_of(adv))
        adv = torch.min(torch.max(adv, x - eps), x + eps)
        adv = torch.clamp(adv, 0, 1)
    return adv


eps, alpha, steps = spec["epsilon"], spec["stepSize"], spec["steps"]
out = {
    "fgsm": fgsm(images, eps).flatten().tolist(),
    "pgd": pgd(images, eps, alpha, steps).flatten().tolist(),
    "grad": grad_of(images).flatten().tolist(),
    "logits": logits_of(images).detach().flatten().tolist(),
}
json.dump(out, open(sys.argv[2], "w"))
