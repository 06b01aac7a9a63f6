"""The authors' GAP code paths, ported for the parity tests (EvaluatingRobustness / libadver):

- UnetGenerator: libadver/models/generators.py (the 224 px generator of ISIC 2016 and ChestX-ray14),
  built as `define(…, gen_type='unet', norm='batch', act='relu')` builds it. `define` ends with
  weights_init(network, act), which looks at the container's class name only and changes nothing, so
  the weights are PyTorch's defaults.
- UGenerator_Net: Messidor/Generator_net.py (299 px, SELU decoder by default).
- normalize_and_scale: `_normalize_and_scale` of */gapattack.py, in place on `.data`, as theirs.
- train_step: one iteration of GenerativeAdversarialPerturbations.train (Melanoma/gapattack.py,
  Messidor/gapattack.py; ChestX-Ray/gapattack.py for the multi-label loss).

Only the forward passes of the generators are the authors' text; `dropout` can be given a fixed mask
(the library's mask) so that both sides drop the same units.
"""
import numpy as np
import torch
import torch.nn as nn


class FixedDropout(nn.Module):
    """nn.Dropout(0.5) in training mode with a given mask (values 0 or 1/(1-p)); identity in eval mode."""

    def __init__(self):
        super().__init__()
        self.mask = None

    def forward(self, x):
        if not self.training:
            return x
        return x * self.mask


class UnetGenerator(nn.Module):
    def __init__(self, input_nc, output_nc, ngf, norm_type='batch', act_type='selu'):
        super(UnetGenerator, self).__init__()
        self.name = 'unet'
        self.conv1 = nn.Conv2d(input_nc, ngf, 4, 2, 1)
        self.conv2 = nn.Conv2d(ngf, ngf * 2, 4, 2, 1)
        self.conv3 = nn.Conv2d(ngf * 2, ngf * 4, 4, 2, 1)
        self.conv4 = nn.Conv2d(ngf * 4, ngf * 8, 4, 2, 1)
        self.conv5 = nn.Conv2d(ngf * 8, ngf * 8, 4, 2, 1)
        self.conv6 = nn.Conv2d(ngf * 8, ngf * 8, 3, 2, 1)
        self.dconv1 = nn.ConvTranspose2d(ngf * 8, ngf * 8, 3, 2, 1)
        self.dconv2 = nn.ConvTranspose2d(ngf * 8 * 2, ngf * 8, 4, 2, 1)
        self.dconv3 = nn.ConvTranspose2d(ngf * 8 * 2, ngf * 4, 4, 2, 1)
        self.dconv4 = nn.ConvTranspose2d(ngf * 4 * 2, ngf * 2, 4, 2, 1)
        self.dconv5 = nn.ConvTranspose2d(ngf * 2 * 2, ngf, 4, 2, 1)
        self.dconv6 = nn.ConvTranspose2d(ngf * 2, output_nc, 4, 2, 1)
        self.norm = nn.BatchNorm2d(ngf)
        self.norm2 = nn.BatchNorm2d(ngf * 2)
        self.norm4 = nn.BatchNorm2d(ngf * 4)
        self.norm8 = nn.BatchNorm2d(ngf * 8)
        self.leaky_relu = nn.LeakyReLU(0.2, True)
        self.act = nn.SELU(True) if act_type == 'selu' else nn.ReLU(True)
        self.dropout = FixedDropout()
        self.tanh = nn.Tanh()

    def forward(self, input):
        e1 = self.conv1(input)
        e2 = self.norm2(self.conv2(self.leaky_relu(e1)))
        e3 = self.norm4(self.conv3(self.leaky_relu(e2)))
        e4 = self.norm8(self.conv4(self.leaky_relu(e3)))
        e5 = self.norm8(self.conv5(self.leaky_relu(e4)))
        e6 = self.conv6(self.leaky_relu(e5))
        d1_ = self.dropout(self.norm8(self.dconv1(self.act(e6))))
        d1 = torch.cat((d1_, e5), 1)
        d2_ = self.norm8(self.dconv2(self.act(d1)))
        d2 = torch.cat((d2_, e4), 1)
        d3_ = self.norm4(self.dconv3(self.act(d2)))
        d3 = torch.cat((d3_, e3), 1)
        d4_ = self.norm2(self.dconv4(self.act(d3)))
        d4 = torch.cat((d4_, e2), 1)
        d5_ = self.norm(self.dconv5(self.act(d4)))
        d5 = torch.cat((d5_, e1), 1)
        d6 = self.dconv6(self.act(d5))
        output = self.tanh(d6)
        return output


class UGenerator_Net(UnetGenerator):
    """Messidor/Generator_net.py: the same forward pass, transposed kernels 3, 4, 5, 4, 5, 5 for 299 px."""

    def __init__(self, input_nc, output_nc, ngf, norm_type='batch', act_type='selu'):
        super(UGenerator_Net, self).__init__(input_nc, output_nc, ngf, norm_type, act_type)
        self.dconv3 = nn.ConvTranspose2d(ngf * 8 * 2, ngf * 4, 5, 2, 1)
        self.dconv5 = nn.ConvTranspose2d(ngf * 2 * 2, ngf, 5, 2, 1)
        self.dconv6 = nn.ConvTranspose2d(ngf * 2, output_nc, 5, 2, 1)


def define_generator(kind, ngf, nc=3):
    """The generator of each of the authors' GAP scripts, with PyTorch's default init."""
    if kind == 'isic':
        return UnetGenerator(nc, nc, ngf, 'batch', 'relu')  # define(..., gen_type='unet', norm='batch', act='relu')
    return UGenerator_Net(nc, nc, ngf)  # act_type defaults to 'selu'


def normalize_and_scale(delta_im, mean, std, mag_in, nc):
    """_normalize_and_scale, in place on .data like theirs (CPU instead of .cuda())."""
    delta_im.data += 1
    delta_im.data *= 0.5
    for c in range(nc):
        delta_im.data[:, c, :, :] = (delta_im.data[:, c, :, :] - mean[c]) / std[c]
    bs = delta_im.size(0)
    for i in range(bs):
        for ci in range(nc):
            l_inf_channel = delta_im[i, ci, :, :].detach().cpu().abs().max()
            mag_in_scaled_c = mag_in / (255.0 * std[ci])
            delta_im[i, ci, :, :].data *= torch.tensor(np.minimum(1.0, mag_in_scaled_c / l_inf_channel)).float()
    return delta_im


def train_step(clf, gen, optimizer, images, labels, mean, std, mag_in, multi_label=False):
    """One batch of GenerativeAdversarialPerturbations.train. Returns the loss, the adversarial logits
    and the gradients of the generator's parameters (read before optimizer.step())."""
    nc = images.shape[1]
    if not multi_label:
        out = clf(images)
        if isinstance(out, list):
            out = out[0]
        _, y_target = torch.min(out, 1)
        criterion = nn.CrossEntropyLoss()
    else:
        y_target = (torch.sigmoid(clf(images)) < 0.5).float()  # their model ends in a sigmoid
        criterion = nn.BCELoss()
    deltaIm = gen(images)
    deltaIm = normalize_and_scale(deltaIm, mean, std, mag_in, nc)
    gen.zero_grad()
    recons = torch.add(images, deltaIm)
    for cii in range(nc):
        recons.data[:, cii, :, :] = recons.data[:, cii, :, :].clamp(images.data[:, cii, :, :].min(), images.data[:, cii, :, :].max())
    outputs = clf(recons)
    if isinstance(outputs, list):
        outputs = outputs[0]
    if not multi_label:
        loss = criterion(outputs, y_target)
    else:
        probs = torch.sigmoid(outputs)
        loss = 0
        for i in range(probs.shape[1]):
            loss = loss + criterion(probs[:, i], y_target[:, i])
        loss = loss / float(probs.shape[1])
    loss.backward()
    grads = {name: p.grad.detach().clone() for name, p in gen.named_parameters()}
    optimizer.step()
    return loss.item(), outputs.detach(), grads, deltaIm.detach()
