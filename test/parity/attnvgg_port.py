"""The authors' AttnVGG (EvaluatingRobustness Melanoma/networks.py, from IPMI2019-AttnMel), ported with one
change: every channel count is multiplied by `width` (round(c * width), at least 1) so that the parity
tests run on a CPU. Module names, the VGG16-BN block slicing, the attention blocks (F.interpolate with
align_corners=False), AvgPool2d(7) and the forward pass are the authors'. `width=1` is their network.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.models.vgg import make_layers


def scaled(c, width):
    return max(1, int(round(c * width)))


class AttentionBlock(nn.Module):
    def __init__(self, in_features_l, in_features_g, attn_features, up_factor, normalize_attn=True):
        super(AttentionBlock, self).__init__()
        self.up_factor = up_factor
        self.normalize_attn = normalize_attn
        self.W_l = nn.Conv2d(in_channels=in_features_l, out_channels=attn_features, kernel_size=1, padding=0, bias=False)
        self.W_g = nn.Conv2d(in_channels=in_features_g, out_channels=attn_features, kernel_size=1, padding=0, bias=False)
        self.phi = nn.Conv2d(in_channels=attn_features, out_channels=1, kernel_size=1, padding=0, bias=True)

    def forward(self, l, g):
        N, C, W, H = l.size()
        l_ = self.W_l(l)
        g_ = self.W_g(g)
        if self.up_factor > 1:
            g_ = F.interpolate(g_, scale_factor=self.up_factor, mode='bilinear', align_corners=False)
        c = self.phi(F.relu(l_ + g_))
        if self.normalize_attn:
            a = F.softmax(c.view(N, 1, -1), dim=2).view(N, 1, W, H)
        else:
            a = torch.sigmoid(c)
        f = torch.mul(a.expand_as(l), l)
        if self.normalize_attn:
            output = f.view(N, C, -1).sum(dim=2)
        else:
            output = F.adaptive_avg_pool2d(f, (1, 1)).view(N, C)
        return a, output


class AttnVGG(nn.Module):
    def __init__(self, num_classes, attention=True, normalize_attn=False, width=1.0):
        super(AttnVGG, self).__init__()
        self.attention = attention
        s = lambda c: scaled(c, width)
        cfg = [s(64), s(64), 'M', s(128), s(128), 'M', s(256), s(256), s(256), 'M', s(512), s(512), s(512), 'M', s(512), s(512), s(512), 'M']
        features = make_layers(cfg, batch_norm=True)  # torchvision vgg16_bn().features at width 1
        self.conv_block1 = nn.Sequential(*list(features.children())[0:6])
        self.conv_block2 = nn.Sequential(*list(features.children())[7:13])
        self.conv_block3 = nn.Sequential(*list(features.children())[14:23])
        self.conv_block4 = nn.Sequential(*list(features.children())[24:33])
        self.conv_block5 = nn.Sequential(*list(features.children())[34:43])
        self.pool = nn.AvgPool2d(7, stride=1)
        self.c5 = s(512)
        self.cls = nn.Linear(in_features=s(512) + s(512) + s(256), out_features=num_classes, bias=True)
        if self.attention:
            self.attn1 = AttentionBlock(s(256), s(512), s(256), 4, normalize_attn=normalize_attn)
            self.attn2 = AttentionBlock(s(512), s(512), s(256), 2, normalize_attn=normalize_attn)
        self.reset_parameters(self.cls)
        if self.attention:
            self.reset_parameters(self.attn1)
            self.reset_parameters(self.attn2)

    def reset_parameters(self, module):
        for m in module.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode='fan_in', nonlinearity='relu')
                if m.bias is not None:
                    nn.init.constant_(m.bias, 0.)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1.)
                nn.init.constant_(m.bias, 0.)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0., 0.01)
                nn.init.constant_(m.bias, 0.)

    def forward(self, x):
        block1 = self.conv_block1(x)
        pool1 = F.max_pool2d(block1, 2, 2)
        block2 = self.conv_block2(pool1)
        pool2 = F.max_pool2d(block2, 2, 2)
        block3 = self.conv_block3(pool2)
        pool3 = F.max_pool2d(block3, 2, 2)
        block4 = self.conv_block4(pool3)
        pool4 = F.max_pool2d(block4, 2, 2)
        block5 = self.conv_block5(pool4)
        pool5 = F.max_pool2d(block5, 2, 2)
        N, __, __, __ = pool5.size()
        g = self.pool(pool5).view(N, self.c5)
        a1, g1 = self.attn1(pool3, pool5)
        a2, g2 = self.attn2(pool4, pool5)
        g_hat = torch.cat((g, g1, g2), dim=1)
        out = self.cls(g_hat)
        return [out, a1, a2]


def randomize_bn(model, seed):
    """Trained-looking batch-norm statistics and affine parameters (PyTorch's init is 0/1)."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(0.1 * torch.randn(n, generator=g))
            m.running_var.copy_(0.5 + torch.rand(n, generator=g))
            m.weight.data.copy_(1 + 0.1 * torch.randn(n, generator=g))
            m.bias.data.copy_(0.1 * torch.randn(n, generator=g))


def calibrate_bn(model, x):
    """Running statistics of `x` (as after training on it), then trained-looking affine parameters, so that
    the network is well conditioned in eval mode (random statistics wash the signal out and leave input
    gradients that are float32 rounding noise in any framework)."""
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the calibration passes
    model.train()
    with torch.no_grad():
        model(x)
    g = torch.Generator().manual_seed(5)
    for m in bns:
        m.weight.data.copy_(1 + 0.1 * torch.randn(m.num_features, generator=g))
        m.bias.data.copy_(0.1 * torch.randn(m.num_features, generator=g))
        m.momentum = 0.1
    model.eval()
