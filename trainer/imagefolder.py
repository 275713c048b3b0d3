"""The image-folder workload's data and models: any torchvision classifier on a folder of images.

The folder is in torchvision's ImageFolder layout, read on the worker:

    PATH/train/<class>/*.png|jpg|...   the training set; one subfolder per class
    PATH/val/<class>/*                 the test set, the same class names

Classes are the train subfolders, sorted (ImageFolder's rule). Training images
get ImageNet's usual augmentation, a random resized crop to `image_size` and a
horizontal flip; test images are resized to image_size / 0.875 and centre
cropped. Pixels travel as uint8 and the model normalises them (its first
layer), which keeps a held data set four times smaller than float32.

How the data is fed (`loading`): "memory" decodes every image once and holds
the sets as uint8 tensors on the device (the training set at image_size /
0.875, square; its crops and flips are made there, the whole batch at once);
"stream" reads and augments the images in DataLoader worker processes every
epoch; "auto" holds them when they fit MEMORY_BUDGET_BYTES (on a GPU also a
quarter of its free memory), and streams them otherwise. Both ways see the
same samples, classes and test images.

Everything here imports torch; trainer.workloads names these factories as
strings, so that the web process (which only checks options) never loads it.
"""

from __future__ import annotations

import copy
import logging
import math
import multiprocessing
import os
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset, RandomSampler

from trainer.data import Batch, DataSource, DataUnavailable, TensorSource

log = logging.getLogger(__name__)

MEMORY_BUDGET_BYTES = 2 * 1024**3  # "auto" holds the sets (uint8 pixels) when they take at most this much
GPU_MEMORY_SHARE = 0.25  # ... and, on a GPU, at most this share of its free memory: the model needs the rest
CENTRE_CROP = 0.875  # test images: resized to image_size / 0.875, centre-cropped to image_size (ImageNet's 256/224)
IMAGENET_MEAN = (0.485, 0.456, 0.406)  # torchvision's classifiers are normalised with ImageNet's statistics
IMAGENET_STD = (0.229, 0.224, 0.225)
CROP_SCALE = (0.08, 1.0)  # RandomResizedCrop's defaults: the crop's share of the area, and its aspect ratio
CROP_RATIO = (3 / 4, 4 / 3)
DECODE_BATCH = 256  # images per DataLoader batch while decoding a set into memory
# torchvision builds these with auxiliary classifiers that change the training output: without them
AUX_LOGITS_MODELS = ("googlenet", "inception_v3")


# --- The folder -------------------------------------------------------------------------------


def folder_classes(path: str | Path) -> list[str]:
    """The class names (train/'s subfolders, sorted); DataUnavailable saying what is missing otherwise."""
    root = Path(path).expanduser()
    if not root.is_dir():
        raise DataUnavailable(
            f"image folder {root} not found: workload_options.path must be a folder on the worker holding "
            "train/<class>/ and val/<class>/ (torchvision's ImageFolder layout)"
        )
    classes = {}
    for split in ("train", "val"):
        folder = root / split
        if not folder.is_dir():
            raise DataUnavailable(
                f"image folder {root} has no {split}/ folder: it needs train/<class>/ and val/<class>/"
            )
        classes[split] = sorted(entry.name for entry in folder.iterdir() if entry.is_dir())
    if len(classes["train"]) < 2:
        raise DataUnavailable(
            f"image folder {root}: train/ must hold at least two class folders, got {classes['train']}"
        )
    if classes["val"] != classes["train"]:
        raise DataUnavailable(
            f"image folder {root}: val/ must hold the same class folders as train/; "
            f"train/ has {classes['train']}, val/ has {classes['val']}"
        )
    return classes["train"]


def resize_size(image_size: int) -> int:
    """The side test images are resized to before their centre crop (and a held training set is stored at)."""
    return round(image_size / CENTRE_CROP)


def train_transform(image_size: int):
    """A streamed training image: a random resized crop to image_size and a flip, as uint8 (3, size, size)."""
    from torchvision.transforms import v2

    return v2.Compose(
        [
            v2.PILToTensor(),
            v2.RandomResizedCrop(image_size, scale=CROP_SCALE, ratio=CROP_RATIO, antialias=True),
            v2.RandomHorizontalFlip(),
        ]
    )


def resized_transform(resize: int, crop: int):
    """Deterministic: the shorter side resized to `resize`, then the centre crop x crop, as uint8."""
    from torchvision.transforms import v2

    return v2.Compose([v2.PILToTensor(), v2.Resize(resize, antialias=True), v2.CenterCrop(crop)])


def scan(root: Path) -> tuple[Dataset, Dataset]:
    """torchvision's ImageFolder of train/ and val/, without transforms: every file listed, none read."""
    from torchvision.datasets import ImageFolder

    try:
        return ImageFolder(str(root / "train")), ImageFolder(str(root / "val"))
    except (FileNotFoundError, OSError) as error:  # a class folder without a single image, say
        raise DataUnavailable(f"image folder {root} could not be read: {error}") from error


def transformed(images: Dataset, transform) -> Dataset:
    """The scanned set with this transform (a shallow copy: the list of files is shared, not scanned again)."""
    images = copy.copy(images)
    images.transform = transform
    return images


# --- Loading: held in memory or streamed --------------------------------------------------------


@dataclass(frozen=True)
class ImageFolderData:
    """A folder checked and sized, not yet read: `source()` holds it in memory or streams it."""

    root: Path
    classes: list[str]
    image_size: int
    batch_size: int
    loading: str  # "auto", "memory" or "stream"
    workers: int
    train_set: Dataset = field(repr=False)  # scanned once (scan), without transforms
    val_set: Dataset = field(repr=False)

    @property
    def train_size(self) -> int:
        return len(self.train_set)

    @property
    def val_size(self) -> int:
        return len(self.val_set)

    def held_bytes(self) -> int:
        """The uint8 pixels of both sets held in memory: training images at resize_size, test at image_size."""
        side = resize_size(self.image_size)
        return 3 * (self.train_size * side * side + self.val_size * self.image_size**2)

    def fits(self, device: torch.device) -> bool:
        budget = MEMORY_BUDGET_BYTES
        if device.type == "cuda":
            budget = min(budget, int(torch.cuda.mem_get_info(device)[0] * GPU_MEMORY_SHARE))
        return self.held_bytes() <= budget

    def source(self, device: torch.device, eval_batch_size: int) -> DataSource:
        hold = self.loading == "memory" or (self.loading == "auto" and self.fits(device))
        workers = self.worker_processes()
        if hold:
            return held_images(self, device, eval_batch_size, workers)
        return StreamedImages(self, device, eval_batch_size, workers)

    def worker_processes(self) -> int:
        """The DataLoader workers: at most one per CPU; none inside a daemonic process (a Celery prefork child
        may not start processes)."""
        if self.workers and multiprocessing.current_process().daemon:
            log.info("image folder %s: read in this process (a daemonic process cannot start workers)", self.root)
            return 0
        return min(self.workers, os.cpu_count() or 1)


def load(data_dir: Path, *, path: str, image_size: int, batch_size: int, loading: str, workers: int) -> ImageFolderData:
    """The workload's load_data: the folder checked and counted (DataUnavailable naming what is missing)."""
    root = Path(path).expanduser()
    classes = folder_classes(root)
    return ImageFolderData(root, classes, image_size, batch_size, loading, workers, *scan(root))


def held_images(folder: ImageFolderData, device: torch.device, eval_batch_size: int, workers: int) -> TensorSource:
    """Both sets decoded once, as uint8 tensors on the device; crops and flips made there, batched."""
    side = resize_size(folder.image_size)
    train = transformed(folder.train_set, resized_transform(side, side))
    val = transformed(folder.val_set, resized_transform(side, folder.image_size))
    tensors = (*_decode(train, side, workers, device), *_decode(val, folder.image_size, workers, device))
    log.info("image folder %s: %d MB held on %s", folder.root, folder.held_bytes() // 2**20, device)

    def augment(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return random_resized_crop_flip(images, generator, folder.image_size)

    return TensorSource(tensors, len(folder.classes), folder.batch_size, eval_batch_size, augment)


def _decode(images: Dataset, side: int, workers: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Every image of the set, decoded by the workers into one uint8 (n, 3, side, side) tensor on the device."""
    inputs = torch.empty(len(images), 3, side, side, dtype=torch.uint8, device=device)
    labels = torch.empty(len(images), dtype=torch.int64, device=device)
    start = 0
    for batch, targets in DataLoader(images, batch_size=DECODE_BATCH, shuffle=False, num_workers=workers):
        inputs[start : start + len(batch)] = batch.to(device)
        labels[start : start + len(batch)] = targets.to(device)
        start += len(batch)
    return inputs, labels


class StreamedImages(DataSource):
    """The sets read from disk every epoch by DataLoader workers (decoding and augmenting), batches sent to
    the device. The order is drawn from the run's generator every epoch, so a seeded run sees the same order."""

    def __init__(self, folder: ImageFolderData, device: torch.device, eval_batch_size: int, workers: int):
        train = transformed(folder.train_set, train_transform(folder.image_size))
        val = transformed(folder.val_set, resized_transform(resize_size(folder.image_size), folder.image_size))
        self.device = device
        self.num_classes, self.train_size, self.batch_size = len(folder.classes), len(train), folder.batch_size
        self.order = torch.Generator()  # reseeded every epoch from the run's generator
        common = {"num_workers": workers, "pin_memory": device.type == "cuda", "persistent_workers": workers > 0}
        sampler = RandomSampler(train, generator=self.order)
        self.train_loader = DataLoader(train, folder.batch_size, sampler=sampler, generator=self.order, **common)
        self.test_loader = DataLoader(val, eval_batch_size, shuffle=False, **common)

    def train_batches(self, generator: torch.Generator, steps: int) -> Iterator[Batch]:
        seed = torch.randint(0, 2**62, (1,), generator=generator, device=generator.device).item()
        self.order.manual_seed(seed)
        yield from self._on_device(islice(self.train_loader, steps))

    def test_batches(self, limit: int | None = None) -> Iterator[Batch]:
        yield from self._on_device(islice(self.test_loader, limit))

    def _on_device(self, batches) -> Iterator[Batch]:
        for inputs, labels in batches:
            yield inputs.to(self.device, non_blocking=True), labels.to(self.device, non_blocking=True)


def random_resized_crop_flip(images: torch.Tensor, generator: torch.Generator, size: int) -> torch.Tensor:
    """RandomResizedCrop(size) and a random horizontal flip of every image of a batch, on its device at once.

    Each crop covers a random share of the area in CROP_SCALE at an aspect ratio
    in CROP_RATIO (clipped to the image), resampled bilinearly to size x size
    by one grid_sample. Draws come from `generator`. Returns float pixels in
    the images' range (0-255 for uint8 input).
    """
    n, channels = images.shape[:2]
    draws = torch.rand(n, 5, device=images.device, generator=generator)
    area = CROP_SCALE[0] + (CROP_SCALE[1] - CROP_SCALE[0]) * draws[:, 0]
    low, high = math.log(CROP_RATIO[0]), math.log(CROP_RATIO[1])
    aspect = torch.exp(low + (high - low) * draws[:, 1])
    width = torch.sqrt(area * aspect).clamp(max=1.0)  # fractions of the image's side
    height = torch.sqrt(area / aspect).clamp(max=1.0)
    flip = torch.where(draws[:, 4] < 0.5, -1.0, 1.0)
    theta = torch.zeros(n, 2, 3, device=images.device)
    theta[:, 0, 0] = width * flip
    theta[:, 0, 2] = (2 * draws[:, 2] - 1) * (1 - width)  # the crop's centre, in [-1, 1] coordinates
    theta[:, 1, 1] = height
    theta[:, 1, 2] = (2 * draws[:, 3] - 1) * (1 - height)
    grid = F.affine_grid(theta, [n, channels, size, size], align_corners=False)
    return F.grid_sample(images.float(), grid, mode="bilinear", padding_mode="border", align_corners=False)


# --- Models -------------------------------------------------------------------------------------


class Normalise(nn.Module):
    """uint8 (or 0-255 float) pixels -> ImageNet-normalised floats: the first layer of every image-folder model."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).mul(255).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).mul(255).view(1, 3, 1, 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return (images.float() - self.mean) / self.std


def build_model(model: str, path: str, image_size: int, pretrained: bool) -> nn.Module:
    """torchvision's `model`, with one output per class of the folder, after a Normalise layer.

    Randomly initialised; with pretrained, ImageNet weights where they are on
    disk already (torch hub's cache) and a new last layer. Nothing is downloaded.
    """
    from torchvision.models import get_model

    num_classes = len(folder_classes(path))
    kwargs: dict = {"image_size": image_size} if model.startswith("vit_") else {}
    if model in AUX_LOGITS_MODELS:
        kwargs["aux_logits"] = False
    if pretrained:
        net = _pretrained(model, num_classes, kwargs)
    else:
        net = get_model(model, weights=None, num_classes=num_classes, **kwargs)
    return nn.Sequential(OrderedDict(normalise=Normalise(), net=net))


def _pretrained(model: str, num_classes: int, kwargs: dict) -> nn.Module:
    from torchvision.models import get_model, get_model_weights

    weights = get_model_weights(model).DEFAULT
    file = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
    if not file.is_file():
        raise DataUnavailable(
            f"pretrained weights for {model} are not on disk at {file}, and this trainer never downloads: "
            "put the file there, or set workload_options.pretrained to false"
        )
    net = get_model(model, weights=None, **kwargs)
    state = torch.load(file, map_location="cpu", weights_only=True)
    if kwargs.get("aux_logits") is False:
        state = {k: v for k, v in state.items() if not k.startswith(("AuxLogits.", "aux1.", "aux2."))}
    net.load_state_dict(state)
    parent_name, _, name = next(
        n for n, m in reversed(list(net.named_modules())) if isinstance(m, nn.Linear)
    ).rpartition(".")
    head = net.get_submodule(f"{parent_name}.{name}" if parent_name else name)
    setattr(net.get_submodule(parent_name), name, nn.Linear(head.in_features, num_classes))  # Sequential too
    return net
