"""Shared I/O of the parity ports: read in.npz and args.json from the folder in argv[1], write out.npz.

Arrays are float32 (or int32) in the library's layouts (NHWC images); each port converts what it needs.
"""
import json
import os
import sys

import numpy as np
import torch

torch.set_num_threads(1)
torch.manual_seed(0)


def load():
    folder = sys.argv[1]
    with np.load(os.path.join(folder, "in.npz")) as z:
        arrays = {k: z[k] for k in z.files}
    with open(os.path.join(folder, "args.json")) as f:
        args = json.load(f)
    return folder, arrays, args


def save(folder, arrays):
    out = {}
    for k, v in arrays.items():
        if isinstance(v, torch.Tensor):
            v = v.detach().cpu().numpy()
        v = np.asarray(v)
        out[k] = v.astype(np.int32) if v.dtype.kind in "iub" else v.astype(np.float32)
    np.savez(os.path.join(folder, "out.npz"), **out)


def nchw(x):
    """NHWC numpy -> NCHW float32 tensor."""
    return torch.from_numpy(np.ascontiguousarray(np.transpose(x, (0, 3, 1, 2)))).float()


def nhwc(t):
    """NCHW tensor -> NHWC numpy."""
    return np.ascontiguousarray(t.detach().permute(0, 2, 3, 1).cpu().numpy())
