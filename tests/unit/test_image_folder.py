"""The image-folder workload: a torchvision classifier on a folder of real digits (PNG files written from MNIST)."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.image_folder import CLASSES, make_image_folder
from trainer import imagefolder
from trainer.core import UserInputError
from trainer.data import DataUnavailable, TensorSource
from trainer.engine import TrainConfig, train
from trainer.workloads import TORCHVISION_CLASSIFIERS, get_workload

REPO_ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.usefixtures("one_cpu_thread")
SMALL = {"model": "resnet18", "image_size": 32, "batch_size": 16}  # seconds per epoch on a CPU


@pytest.fixture(scope="module")
def digits(tmp_path_factory) -> Path:
    return make_image_folder(tmp_path_factory.mktemp("images") / "digits", train_per_class=100, val_per_class=30)


def run(path, epochs=1, limit_train_batches=None, **options) -> TrainConfig:
    return TrainConfig(
        workload="image-folder",
        policy={"kind": "FIX", "k0": 0.005},
        epochs=epochs,
        device="cpu",
        workload_options={"path": str(path), **SMALL, **options},
        limit_train_batches=limit_train_batches,
    )


def test_a_resnet18_learns_the_digits_well_above_chance(digits):
    result = train(run(digits, epochs=2, loading="memory"))

    assert result["status"] == "succeeded"
    assert result["workload_options"]["model"] == "resnet18"
    # Three classes: chance is 1/3. The seeded run reaches 0.88; a broken pipeline stays near 0.33.
    assert result["summary"]["final_acc"] > 0.6
    assert [e["iterations"] for e in result["epochs"]] == [19, 38]  # 300 images in batches of 16


def test_held_and_streamed_data_see_the_same_samples_classes_and_test_images(digits):
    folder = get_workload("image-folder").load_data(
        Path("unused"), path=str(digits), image_size=32, batch_size=16, loading="auto", workers=2
    )
    cpu = torch.device("cpu")
    held = imagefolder.held_images(folder, cpu, eval_batch_size=40, workers=0)
    streamed = imagefolder.StreamedImages(folder, cpu, eval_batch_size=40, workers=2)

    assert folder.classes == [f"digit{d}" for d in CLASSES]
    assert (held.num_classes, held.train_size, held.batch_size) == (3, 300, 16)
    assert (streamed.num_classes, streamed.train_size, streamed.batch_size) == (3, 300, 16)
    held_x, held_y = map(torch.cat, zip(*held.test_batches(), strict=True))
    streamed_x, streamed_y = map(torch.cat, zip(*streamed.test_batches(), strict=True))
    assert held_x.shape == (90, 3, 32, 32) and held_x.dtype == torch.uint8
    assert torch.equal(held_x, streamed_x) and torch.equal(held_y, streamed_y)  # the same test set, in order
    assert held_y.bincount().tolist() == [30, 30, 30]
    for source in (held, streamed):
        inputs, labels = next(source.train_batches(torch.Generator().manual_seed(0), steps=1))
        assert inputs.shape == (16, 3, 32, 32) and labels.shape == (16,)
        assert 0 <= float(inputs.min()) and float(inputs.max()) <= 255


def test_a_streamed_run_trains_in_worker_processes_and_repeats_with_its_seed(digits):
    first = train(run(digits, loading="stream", workers=2, limit_train_batches=5))
    second = train(run(digits, loading="stream", workers=2, limit_train_batches=5))

    assert first["status"] == "succeeded"
    assert first["epochs"][0]["iterations"] == 5
    assert first["epochs"][0]["test_loss"] == pytest.approx(second["epochs"][0]["test_loss"])


def test_auto_holds_a_folder_that_fits_the_budget_and_streams_one_that_does_not(digits, monkeypatch):
    folder = get_workload("image-folder").load_data(
        Path("unused"), path=str(digits), image_size=32, batch_size=16, loading="auto", workers=0
    )
    cpu = torch.device("cpu")
    assert folder.held_bytes() == 3 * (300 * 37 * 37 + 90 * 32 * 32)  # training images at 32 / 0.875
    assert isinstance(folder.source(cpu, 40), TensorSource)

    monkeypatch.setattr(imagefolder, "MEMORY_BUDGET_BYTES", folder.held_bytes() - 1)
    assert isinstance(folder.source(cpu, 40), imagefolder.StreamedImages)


def test_a_missing_folder_fails_the_run_naming_it(tmp_path):
    missing = tmp_path / "nowhere"

    with pytest.raises(DataUnavailable, match=f"image folder {missing} not found"):
        train(run(missing))


def test_a_folder_without_val_or_with_other_val_classes_is_refused(tmp_path):
    (tmp_path / "a" / "train" / "cat").mkdir(parents=True)
    (tmp_path / "a" / "train" / "dog").mkdir()
    with pytest.raises(DataUnavailable, match="has no val/ folder"):
        imagefolder.folder_classes(tmp_path / "a")
    (tmp_path / "a" / "val" / "cat").mkdir(parents=True)
    with pytest.raises(DataUnavailable, match="the same class folders as train/"):
        imagefolder.folder_classes(tmp_path / "a")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "workload_options.path is required"),
        ({"path": ""}, "workload_options.path must be non-empty text"),
        ({"path": "/x", "model": "resnet9000"}, "workload_options.model must be one of alexnet"),
        ({"path": "/x", "image_size": 8}, r"workload_options.image_size must be an integer in \[16, 1024\]"),
        ({"path": "/x", "loading": "disk"}, "workload_options.loading must be one of auto, memory, stream"),
        ({"path": "/x", "classes": 3}, "workload_options.classes: unknown option"),
    ],
)
def test_bad_options_are_refused_before_any_work_naming_the_option(options, message):
    config = TrainConfig(workload="image-folder", policy={"kind": "FIX", "k0": 0.1}, epochs=1, workload_options=options)

    with pytest.raises(ValueError, match=message):
        train(config)


def test_a_synthetic_run_is_refused_naming_the_field(digits):
    with pytest.raises(UserInputError, match="no synthetic stand-in") as caught:
        train(TrainConfig(workload="image-folder", policy={"kind": "FIX", "k0": 0.1}, epochs=1, synthetic=True,
                          workload_options={"path": str(digits)}))  # fmt: skip
    assert caught.value.field == "synthetic"


def test_the_model_names_are_torchvision_s_classifiers():
    import torchvision
    from torchvision.models import list_models

    assert TORCHVISION_CLASSIFIERS == tuple(list_models(module=torchvision.models))


def test_its_options_are_checked_without_importing_torch():
    code = (
        "import sys; from trainer.workloads import get_workload; "
        "print(get_workload('image-folder').changed_options({'path': '/data/x', 'model': 'mobilenet_v3_small'})); "
        "print('torch' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)

    assert done.stdout.splitlines() == ["{'path': '/data/x', 'model': 'mobilenet_v3_small'}", "False"], done.stderr


def test_pretrained_weights_that_are_not_on_disk_are_never_downloaded(digits, tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))

    with pytest.raises(DataUnavailable, match="pretrained weights for resnet18 are not on disk"):
        imagefolder.build_model("resnet18", str(digits), 32, pretrained=True)


def test_the_batched_crop_and_flip_gives_every_image_its_own_crop():
    images = torch.arange(2 * 3 * 37 * 37, dtype=torch.float32).view(2, 3, 37, 37).repeat(4, 1, 1, 1)
    crops = imagefolder.random_resized_crop_flip(images, torch.Generator().manual_seed(1), 32)

    assert crops.shape == (8, 3, 32, 32)
    assert images.min() <= crops.min() and crops.max() <= images.max()
    assert not torch.equal(crops[0], crops[2])  # the same image, cropped differently
