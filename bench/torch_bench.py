"""PyTorch CPU half of `npm run bench`: the networks of bench/models.ts, NCHW, timed like bench/run.ts.

Usage: /usr/bin/python3 bench/torch_bench.py '{"threads": 2, "cases": [{"model": "smallCnn", "size": 28, "batch": 32}], "seconds": 3}'
("skipForward": true leaves the forward pass untimed: null.)
Prints one JSON object: {"torch": version, "threads": n, "results": [{model, forward, pgd, train} in ms]}.
"""
import json
import statistics
import sys
import time

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError as exc:  # reported by run.ts
    print(json.dumps({"error": f"torch unavailable: {exc}"}))
    sys.exit(0)


class SmallCnn(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.c1, self.c2 = nn.Conv2d(3, 32, 3, padding=1), nn.Conv2d(32, 32, 3, padding=1)
        self.c3, self.c4 = nn.Conv2d(32, 64, 3, padding=1), nn.Conv2d(64, 64, 3, padding=1)
        self.fc1, self.fc2 = nn.Linear(64 * 7 * 7, 128), nn.Linear(128, classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.c2(F.relu(self.c1(x)))), 2)
        x = F.max_pool2d(F.relu(self.c4(F.relu(self.c3(x)))), 2)
        return self.fc2(F.relu(self.fc1(torch.flatten(x, 1))))


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.a, self.an = nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout)
        self.b, self.bn = nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout)
        self.short = None
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = self.bn(self.b(F.relu(self.an(self.a(x)))))
        return F.relu(y + (x if self.short is None else self.short(x)))


class ResNet(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU())
        blocks, cin = [], 32
        for cout, stride in [(32, 1), (64, 2), (128, 2)]:
            blocks += [Block(cin, cout, stride), Block(cout, cout, 1)]
            cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(128, classes)

    def forward(self, x):
        return self.fc(self.blocks(self.stem(x)).mean((2, 3)))


def densenet121(classes=10):
    import torchvision  # optional; DenseNet-121 is skipped without it
    return torchvision.models.densenet121(num_classes=classes)


BUILD = {"smallCnn": SmallCnn, "resnet": ResNet, "densenet121": densenet121}


def timed(fn, seconds, min_reps=3, max_reps=20):
    fn()  # warm-up (and lazy layers)
    fn()
    # (two warm-up calls above)
    times, start = [], time.perf_counter()
    while len(times) < min_reps or (len(times) < max_reps and time.perf_counter() - start < seconds):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def run_case(case, seconds, skip_forward=False):
    torch.manual_seed(0)
    model = BUILD[case["model"]]()
    x = torch.rand(case["batch"], 3, case["size"], case["size"])
    y = torch.randint(0, 10, (case["batch"],))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    eps, alpha = 8 / 255, 2 / 255

    def forward():
        model.eval()
        with torch.no_grad():
            model(x)

    def pgd_step():
        model.eval()
        adv = x.clone().requires_grad_(True)
        loss = F.cross_entropy(model(adv), y, reduction="sum")
        (grad,) = torch.autograd.grad(loss, adv)
        with torch.no_grad():
            nxt = torch.min(torch.max(adv + alpha * grad.sign(), x - eps), x + eps).clamp_(0, 1)
        return nxt

    def train_step():
        model.train()
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()

    return {**case, "forward": None if skip_forward else timed(forward, seconds), "pgd": timed(pgd_step, seconds), "train": timed(train_step, seconds)}


def main():
    cfg = json.loads(sys.argv[1])
    torch.set_num_threads(cfg["threads"])
    results = []
    for case in cfg["cases"]:
        try:
            results.append(run_case(case, cfg.get("seconds", 3), cfg.get("skipForward", False)))
        except Exception as exc:  # e.g. torchvision missing for densenet121
            results.append({**case, "error": str(exc)})
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "results": results}))


if __name__ == "__main__":
    main()
