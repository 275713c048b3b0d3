"""A small image folder in torchvision's ImageFolder layout, written from the shipped MNIST (real digits).

    make_image_folder(tmp_path / "digits")  ->  digits/train/digit0/00000.png, ..., digits/val/digit7/...

The image-folder workload's tests train on it; the README's example points at one.
"""

from __future__ import annotations

from pathlib import Path

CLASSES = (0, 1, 7)  # three digits: chance is 1/3


def make_image_folder(root: Path, *, classes=CLASSES, train_per_class: int = 100, val_per_class: int = 30) -> Path:
    """PNG files of the first MNIST digits of each class: MNIST's train set into train/, its test set into val/."""
    from PIL import Image
    from torchvision.datasets import MNIST

    from trainer.paths import default_data_dir

    for split, train, per_class in (("train", True, train_per_class), ("val", False, val_per_class)):
        mnist = MNIST(root=str(default_data_dir()), train=train, download=False)
        for digit in classes:
            folder = root / split / f"digit{digit}"
            folder.mkdir(parents=True, exist_ok=True)
            indices = (mnist.targets == digit).nonzero().flatten()[:per_class]
            for index in indices.tolist():
                Image.fromarray(mnist.data[index].numpy(), mode="L").save(folder / f"{index:05d}.png")
    return root


if __name__ == "__main__":  # python -m tests.image_folder PATH: the README's example folder
    import sys

    print(make_image_folder(Path(sys.argv[1])))
