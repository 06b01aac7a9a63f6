"""PyTorch reference for the bilinear resize: F.interpolate(mode='bilinear', align_corners=False) and its
gradient, the upsampling of the authors' AttentionBlock (Melanoma/networks.py, scale_factor=up_factor).

in.npz: x [N, H, W, C] (NHWC), dy [N, H', W', C]; args: {"size": [H', W'], "scale": k or null}.
out.npz: y = interpolate(x) (NHWC) and dx = the gradient of sum(y * dy) with respect to x (NHWC).
"""
import torch
import torch.nn.functional as F

from parity_io import load, nchw, nhwc, save

folder, a, args = load()
x = nchw(a["x"]).requires_grad_(True)
dy = nchw(a["dy"])
if args.get("scale"):
    y = F.interpolate(x, scale_factor=args["scale"], mode="bilinear", align_corners=False)
else:
    y = F.interpolate(x, size=tuple(args["size"]), mode="bilinear", align_corners=False)
(dx,) = torch.autograd.grad((y * dy).sum(), x)
save(folder, {"y": nhwc(y), "dx": nhwc(dx)})
