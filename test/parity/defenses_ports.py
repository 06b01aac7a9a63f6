"""Python ports of the authors' defense code paths, one training step each, for test/parity/defenses.test.ts.

Ported (logic re-typed, randomness injected) from:
- MAAdvT: YisenWang/MART mart.py `mart_loss`, as copied into MengtingXu1203/EvaluatingRobustness
  Melanoma|Messidor/defense/mart.py, and the step of train_mart.py (loss.backward(); optimizer.step()).
- MPAdvT: MengtingXu1203/EvaluatingRobustness Melanoma|Messidor|ChestX-Ray/defense/adversarial_training.py
  (coin, e ~ U(0.01, 0.04), n = floor(U(1, 10)), libadver ProjectGradientDescent.generate with
  rand_init and the batch's min/max as clip, then the task loss and optimizer.step()).
The random draws (torch.randn / uniform_ / np.random) are replaced by the values the test passes in,
which are the ones medrobust's seeded loop draws.

Usage: defenses_ports.py spec.json out.json
"""
import json
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_grad_enabled(True)


class Net(nn.Module):
    """The test's MLP on NHWC images: flatten (NHWC order), dense + ReLU, dense (logits)."""

    def __init__(self, spec):
        super().__init__()
        n_in, hidden, classes = spec['inDim'], spec['hidden'], spec['classes']
        self.fc1 = nn.Linear(n_in, hidden)
        self.fc2 = nn.Linear(hidden, classes)
        with torch.no_grad():
            # tfjs dense kernels are [in, out]; torch Linear weights are [out, in].
            self.fc1.weight.copy_(torch.tensor(spec['k1'], dtype=torch.float32).reshape(n_in, hidden).t())
            self.fc1.bias.copy_(torch.tensor(spec['b1'], dtype=torch.float32))
            self.fc2.weight.copy_(torch.tensor(spec['k2'], dtype=torch.float32).reshape(hidden, classes).t())
            self.fc2.bias.copy_(torch.tensor(spec['b2'], dtype=torch.float32))

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x.reshape(x.shape[0], -1))))


class Sigmoid(nn.Module):
    """ChestX-Ray's DenseNet121 ends in a sigmoid and trains with nn.BCELoss."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return torch.sigmoid(self.net(x))


def mart_loss(model, x_natural, y, optimizer, step_size, epsilon, perturb_steps, beta, noise):
    """MART's mart_loss, with torch.randn(x_natural.shape) replaced by `noise`."""
    kl = nn.KLDivLoss(reduction='none')
    model.eval()
    batch_size = len(x_natural)
    x_adv = x_natural.detach() + 0.001 * noise.detach()
    for _ in range(perturb_steps):
        x_adv.requires_grad_()
        with torch.enable_grad():
            loss_ce = F.cross_entropy(model(x_adv), y)
        grad = torch.autograd.grad(loss_ce, [x_adv])[0]
        x_adv = x_adv.detach() + step_size * torch.sign(grad.detach())
        x_adv = torch.min(torch.max(x_adv, x_natural - epsilon), x_natural + epsilon)
        x_adv = torch.clamp(x_adv, 0.0, 1.0)
    model.train()
    x_adv = torch.clamp(x_adv, 0.0, 1.0).detach()
    optimizer.zero_grad()
    logits = model(x_natural)
    logits_adv = model(x_adv)
    adv_probs = F.softmax(logits_adv, dim=1)
    tmp1 = torch.argsort(adv_probs, dim=1)[:, -2:]
    new_y = torch.where(tmp1[:, -1] == y, tmp1[:, -2], tmp1[:, -1])
    loss_adv = F.cross_entropy(logits_adv, y) + F.nll_loss(torch.log(1.0001 - adv_probs + 1e-12), new_y)
    nat_probs = F.softmax(logits, dim=1)
    true_probs = torch.gather(nat_probs, 1, (y.unsqueeze(1)).long()).squeeze()
    loss_robust = (1.0 / batch_size) * torch.sum(
        torch.sum(kl(torch.log(adv_probs + 1e-12), nat_probs), dim=1) * (1.0000001 - true_probs))
    return loss_adv + float(beta) * loss_robust, x_adv


def libadver_pgd(model, inputs, y, eps, eps_iter, nb_iter, clip_min, clip_max, criterion, noise):
    """libadver ProjectGradientDescent.generate (rand_init), with uniform_(-eps, eps) replaced by eps * noise."""
    x = inputs.detach()
    x = x + eps * noise
    for _ in range(nb_iter):
        model.zero_grad()
        x.requires_grad_()
        with torch.enable_grad():
            logits = model(x)
            if isinstance(logits, tuple):
                logits = logits[0]
            loss = criterion(logits, y)
        grad = torch.autograd.grad(loss, [x])[0]
        x = x + eps_iter * torch.sign(grad)
        x = torch.min(torch.max(x, inputs - eps), inputs + eps)
        x = torch.clamp(x, clip_min, clip_max)
    return x.detach()


def focal_loss(inputs, targets, gama=2.0):
    """Melanoma/loss.py FocalLoss (size_average=True)."""
    log_p = -F.cross_entropy(inputs, targets, reduction='none')
    p = torch.exp(log_p)
    return (-torch.pow(1 - p, gama).mul(log_p)).mean()


def make_optimizer(params, o):
    if o['type'] == 'sgd':
        return torch.optim.SGD(params, lr=o['lr'], momentum=o['momentum'], weight_decay=o['weightDecay'], nesterov=o['nesterov'])
    return torch.optim.Adam(params, lr=o['lr'], betas=tuple(o['betas']), eps=o['eps'])


def run_case(case):
    shape = case['shape']
    images = torch.tensor(case['images'], dtype=torch.float32).reshape(shape)
    noise = torch.tensor(case['noise'], dtype=torch.float32).reshape(shape)
    net = Net(case['net'])
    params = list(net.parameters())
    optimizer = make_optimizer(params, case['optimizer'])
    # The loop's reported loss includes the penalties the code adds through weight_decay and L1.
    with torch.no_grad():
        squares = sum(float(torch.sum(p.double() ** 2)) for p in params)
        absolute = sum(float(torch.sum(torch.abs(p.double()))) for p in params)
    penalty = case['optimizer'].get('weightDecay', 0) / 2 * squares + case.get('l1', 0) * absolute
    if case['kind'] == 'mart':
        y = torch.tensor(case['labels'], dtype=torch.long)
        loss, adv = mart_loss(net, images, y, optimizer, case['stepSize'], case['epsilon'], case['steps'], case['beta'], noise)
        loss.backward()
        optimizer.step()
        reported = float(loss) + penalty
    else:
        multi = case['task'] == 'multi-label'
        y = torch.tensor(case['labels'], dtype=torch.float32 if multi else torch.long)
        if multi:
            y = y.reshape(shape[0], -1)
        model = Sigmoid(net) if multi else net
        criterion = nn.BCELoss() if multi else nn.CrossEntropyLoss()
        # adversarial_training.py: p > 0.5 -> PGD batch (the test passes an adversarial draw).
        model.eval()
        adv = libadver_pgd(model, images, y, case['epsilon'], case['stepSize'], case['steps'], torch.min(images), torch.max(images), criterion, noise)
        model.train()
        optimizer.zero_grad()
        pred = model(adv)
        if multi:
            # ChestX-Ray: the mean over the 14 findings of nn.BCELoss per finding.
            loss = sum(criterion(pred[:, i], y[:, i]) for i in range(y.shape[1])) / y.shape[1]
        elif case['loss'] == 'focal':
            loss = focal_loss(pred, y)
        else:
            loss = criterion(pred, y)
        if case.get('l1', 0) > 0:
            # Messidor: c_loss + lamda * sum |param|, with lamda = 0.01.
            loss = loss + case['l1'] * sum(torch.sum(torch.abs(p)) for p in net.parameters())
        loss.backward()
        optimizer.step()
        reported = float(loss) + case['optimizer'].get('weightDecay', 0) / 2 * squares
    w = [net.fc1.weight.detach().t().reshape(-1), net.fc1.bias.detach(), net.fc2.weight.detach().t().reshape(-1), net.fc2.bias.detach()]
    return {
        'name': case['name'],
        'loss': reported,
        'weights': torch.cat(w).tolist(),
        'advMin': float(torch.min(adv)),
        'advMax': float(torch.max(adv)),
    }


def main():
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    out = [run_case(c) for c in spec['cases']]
    with open(sys.argv[2], 'w') as f:
        json.dump(out, f)


if __name__ == '__main__':
    main()
