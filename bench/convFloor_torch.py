"""PyTorch CPU twin of bench/convFloor.ts: each conv layer's forward, input gradient and filter gradient,
2 threads, best of up to 20 runs within ~1.5 s after a warm-up. argv[1]: the layers as JSON
([label, input NHWC, filter HWIO, stride, padding]). Prints {label: {"PyTorch 2T": times in ms}}."""
import json
import sys
import time

import torch
import torch.nn.functional as F


def best(fn):
    fn()
    low = float('inf')
    start = time.perf_counter()
    i = 0
    while i < 20 and (i < 3 or time.perf_counter() - start < 1.5):
        t0 = time.perf_counter()
        fn()
        low = min(low, time.perf_counter() - t0)
        i += 1
    return low * 1000


def main():
    torch.set_num_threads(2)
    layers = json.loads(sys.argv[1])
    out = {}
    with torch.no_grad():
        for label, xs, fs, stride, pad in layers:
            n, h, w, c = xs
            kh, kw, ci, co = fs
            x = torch.randn(n, c, h, w)
            weight = torch.randn(co, ci, kh, kw)
            # 'same' as PyTorch nets write it (symmetric padding k // 2): the same output size and multiply-adds
            # as TensorFlow's 'same' on these shapes.
            padding = [kh // 2, kw // 2] if pad == 'same' else [0, 0]
            y = F.conv2d(x, weight, stride=stride, padding=padding)
            dy = torch.randn_like(y)

            # The backward kernels PyTorch's autograd calls (aten.convolution_backward), one output each.
            def grad(mask, x=x, weight=weight, dy=dy, stride=stride, padding=padding):
                return torch.ops.aten.convolution_backward(dy, x, weight, None, [stride, stride], padding, [1, 1], False, [0, 0], 1, mask)
            out[label] = {'PyTorch 2T': {
                'forward': best(lambda: F.conv2d(x, weight, stride=stride, padding=padding)),
                'inputGrad': best(lambda: grad([True, False, False])),
                'filterGrad': best(lambda: grad([False, True, False])),
            }}
    print(json.dumps(out))


if __name__ == '__main__':
    main()
