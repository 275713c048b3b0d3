"""The workloads' networks, with named layers so that shapes are easy to inspect.

MLPs and LeNet are plain nn.Sequential. The CIFAR networks follow their papers:
LRBench's CNN3 (Caffe's cifar10_full), He et al.'s ResNet-20 (ECCV/CVPR 2016,
"option A" identity shortcuts) and the pre-activation ResNet-32 that Li & Arora
train, whose BN scale/bias and last layer can be held fixed.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn


def digits_mlp(in_features: int = 64, hidden: int = 128, num_classes: int = 10) -> nn.Sequential:
    """An MLP 64 -> 128 -> 128 -> 10 with ReLU, for the 8x8 digits."""
    return nn.Sequential(
        OrderedDict(
            fc1=nn.Linear(in_features, hidden),
            relu1=nn.ReLU(),
            fc2=nn.Linear(hidden, hidden),
            relu2=nn.ReLU(),
            fc3=nn.Linear(hidden, num_classes),
        )
    )


def mlp(in_features: int, depth: int, width: int, num_classes: int) -> nn.Sequential:
    """Iyer et al.'s constant-width ReLU network: `depth` hidden layers of `width` units.

    flatten -> fc1 (the input layer) -> relu1 -> ... -> fc{depth} -> relu{depth} -> fc{depth+1}.
    Every Linear is Kaiming-normal (fan-in, ReLU gain: std sqrt(2 / fan_in)) with zero bias.
    """
    layers: OrderedDict[str, nn.Module] = OrderedDict(flatten=nn.Flatten())
    fan_in = in_features
    for i in range(1, depth + 1):
        layers[f"fc{i}"] = nn.Linear(fan_in, width)
        layers[f"relu{i}"] = nn.ReLU()
        fan_in = width
    layers[f"fc{depth + 1}"] = nn.Linear(fan_in, num_classes)
    model = nn.Sequential(layers)
    for module in model.modules():
        if isinstance(module, nn.Linear):
            nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")
            nn.init.zeros_(module.bias)
    return model


def lenet(num_classes: int = 10) -> nn.Sequential:
    """LRBench's (Caffe's) LeNet for 1x28x28 inputs: 431,080 parameters.

    conv 20 5x5 -> max pool 2 -> conv 50 5x5 -> max pool 2 -> fc 500 -> ReLU -> fc 10.
    There is no nonlinearity after the convolutions: that is the reference model.
    """
    return nn.Sequential(
        OrderedDict(
            conv1=nn.Conv2d(1, 20, kernel_size=5),  # 28 -> 24
            pool1=nn.MaxPool2d(2),  # 24 -> 12
            conv2=nn.Conv2d(20, 50, kernel_size=5),  # 12 -> 8
            pool2=nn.MaxPool2d(2),  # 8 -> 4
            flatten=nn.Flatten(),
            fc1=nn.Linear(50 * 4 * 4, 500),
            relu=nn.ReLU(),
            fc2=nn.Linear(500, num_classes),
        )
    )


class SpatialLRN(nn.Module):
    """Caffe's within-channel local response normalisation.

    x / (1 + alpha/n * sum of x^2 over a size x size window of the same channel)^beta,
    n = size^2, the window zero-padded at the borders. (torch's LocalResponseNorm
    normalises across channels instead.)
    """

    def __init__(self, size: int = 3, alpha: float = 5e-5, beta: float = 0.75):
        super().__init__()
        self.size, self.alpha, self.beta = size, alpha, beta

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean_square = F.avg_pool2d(x * x, self.size, stride=1, padding=self.size // 2, count_include_pad=True)
        return x / (1 + self.alpha * mean_square).pow(self.beta)

    def extra_repr(self) -> str:
        return f"size={self.size}, alpha={self.alpha}, beta={self.beta}"


def cnn3(num_classes: int = 10) -> nn.Sequential:
    """LRBench's CNN3, Caffe's cifar10_full, for 3x32x32 inputs: 89,578 parameters.

    Three 5x5 convolutions (32, 32, 64 channels, padding 2), each followed by
    ReLU and a 3x3 stride-2 pooling (max, then average, average; Caffe rounds
    the output size up: 32 -> 16 -> 8 -> 4), the first two by within-channel
    LRN; then fc 10. Initialised with torch's defaults, not Caffe's tiny Gaussians.
    """
    return nn.Sequential(
        OrderedDict(
            conv1=nn.Conv2d(3, 32, kernel_size=5, padding=2),
            pool1=nn.MaxPool2d(3, stride=2, ceil_mode=True),  # 32 -> 16
            relu1=nn.ReLU(),
            norm1=SpatialLRN(),
            conv2=nn.Conv2d(32, 32, kernel_size=5, padding=2),
            relu2=nn.ReLU(),
            pool2=nn.AvgPool2d(3, stride=2, ceil_mode=True),  # 16 -> 8
            norm2=SpatialLRN(),
            conv3=nn.Conv2d(32, 64, kernel_size=5, padding=2),
            relu3=nn.ReLU(),
            pool3=nn.AvgPool2d(3, stride=2, ceil_mode=True),  # 8 -> 4
            flatten=nn.Flatten(),
            fc=nn.Linear(64 * 4 * 4, num_classes),
        )
    )


def _conv3x3(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=stride, padding=1, bias=False)


class _BasicBlock(nn.Module):
    """He et al.'s CIFAR block: conv-BN-ReLU-conv-BN, plus the shortcut, then ReLU.

    Where the block halves the resolution and doubles the channels, the shortcut
    is "option A": every other pixel, with the new channels zero (no parameters).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        self.conv1 = _conv3x3(in_channels, out_channels, stride)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = _conv3x3(out_channels, out_channels)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.stride = stride
        self.extra_channels = out_channels - in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        shortcut = x
        if self.stride != 1 or self.extra_channels:
            half = self.extra_channels // 2
            shortcut = F.pad(x[:, :, :: self.stride, :: self.stride], (0, 0, 0, 0, half, self.extra_channels - half))
        return F.relu(out + shortcut)


class _PreActBlock(nn.Module):
    """He et al.'s pre-activation block (ECCV 2016): BN-ReLU-conv-BN-ReLU-conv, plus the shortcut.

    Where the shape changes, the shortcut is a 1x1 convolution of the pre-activated input.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv1 = _conv3x3(in_channels, out_channels, stride)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.conv2 = _conv3x3(out_channels, out_channels)
        self.shortcut = None
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(x))
        shortcut = x if self.shortcut is None else self.shortcut(out)
        out = self.conv1(out)
        out = self.conv2(F.relu(self.bn2(out)))
        return out + shortcut


class CifarResNet(nn.Module):
    """The CIFAR ResNets of He et al.: a 3x3 conv of 16 channels, three stages of
    `blocks_per_stage` blocks (16, 32, 64 channels; the 2nd and 3rd stages start
    with stride 2), global average pooling and fc 10. Depth = 6 * blocks_per_stage + 2.

    preact=False: the original network (BN-ReLU after the stem conv).
    preact=True: the pre-activation network, with a final BN-ReLU before pooling.
    """

    def __init__(self, blocks_per_stage: int, preact: bool, num_classes: int = 10):
        super().__init__()
        block = _PreActBlock if preact else _BasicBlock
        self.conv1 = _conv3x3(3, 16)
        self.bn1 = None if preact else nn.BatchNorm2d(16)
        stages = []
        in_channels = 16
        for i, channels in enumerate((16, 32, 64)):
            for j in range(blocks_per_stage):
                stride = 2 if i > 0 and j == 0 else 1
                stages.append(block(in_channels, channels, stride))
                in_channels = channels
        self.blocks = nn.Sequential(*stages)
        self.bn_final = nn.BatchNorm2d(64) if preact else None
        self.fc = nn.Linear(64, num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(x)
        if self.bn1 is not None:
            out = F.relu(self.bn1(out))
        out = self.blocks(out)
        if self.bn_final is not None:
            out = F.relu(self.bn_final(out))
        return self.fc(out.mean(dim=(2, 3)))


def resnet20(num_classes: int = 10) -> CifarResNet:
    """He et al.'s ResNet-20 for CIFAR-10: 269,722 parameters."""
    return CifarResNet(blocks_per_stage=3, preact=False, num_classes=num_classes)


def preresnet32(num_classes: int = 10, fix_bn: bool = False, fix_last: bool = False) -> CifarResNet:
    """The pre-activation ResNet-32 of Li & Arora's experiments: 466,714 parameters.

    fix_bn: every BN's scale stays 1 and bias 0 (not trained); fix_last: the final
    fc keeps its random initialisation. With both, the loss is scale-invariant in
    the conv weights (Li & Arora, section 1 of shared/reference/papers.md).
    """
    model = CifarResNet(blocks_per_stage=5, preact=True, num_classes=num_classes)
    if fix_bn:
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.weight.requires_grad_(False)
                module.bias.requires_grad_(False)
    if fix_last:
        model.fc.requires_grad_(False)
    return model
