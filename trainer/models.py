"""The workloads' networks. Plain nn.Sequential with named layers, so shapes are easy to inspect."""

from __future__ import annotations

from collections import OrderedDict

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
