import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from trainer import data, paths
from trainer.data import load_digits, load_mnist, mnist_raw_files_exist
from trainer.models import digits_mlp, lenet
from trainer.workloads import (
    WORKLOADS,
    OptimizerDefaults,
    UnknownWorkload,
    get_workload,
    list_workloads,
    resolve_optimizer,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
needs_mnist = pytest.mark.skipif(
    not mnist_raw_files_exist(paths.default_data_dir()), reason="MNIST raw files not in the data directory"
)


def test_unknown_workload_raises_a_value_error_listing_the_valid_names():
    with pytest.raises(UnknownWorkload) as raised:
        get_workload("imagenet-vit")

    assert isinstance(raised.value, ValueError)
    for name in ("digits-mlp", "mnist-lenet"):
        assert name in str(raised.value)


def test_list_workloads_gives_json_summaries_of_every_workload():
    summaries = list_workloads()

    assert [s["name"] for s in summaries][: len(WORKLOADS)] == list(WORKLOADS)  # then the plugins' (if any)
    assert {"digits-mlp", "mnist-lenet"} <= set(WORKLOADS)
    json.dumps(summaries)
    lenet_summary = next(s for s in summaries if s["name"] == "mnist-lenet")
    assert lenet_summary["batch_size"] == 100
    assert lenet_summary["target_accuracy"] == 0.99
    assert lenet_summary["optimizer"] == {"name": "sgd", "momentum": 0.9, "weight_decay": 5e-4, "nesterov": False}
    for s in summaries:
        assert 0 <= s["target_accuracy"] <= 1
        assert set(s) >= {"title", "description", "default_epochs", "num_classes"}


def test_importing_trainer_paths_and_listing_workloads_does_not_import_torch():
    code = (
        "import sys, trainer, trainer.paths, trainer.workloads\n"
        "trainer.workloads.list_workloads(); trainer.paths.default_data_dir()\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, check=True, timeout=60)


def test_default_data_dir_follows_the_environment_then_the_shared_folder_then_the_user_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "from-env"))
    assert paths.default_data_dir() == tmp_path / "from-env"

    monkeypatch.delenv("DATA_DIR")
    shared = tmp_path / "shared" / "datasets"
    shared.mkdir(parents=True)
    monkeypatch.setattr(paths, "SHARED_DATASETS", shared)
    assert paths.default_data_dir() == shared

    monkeypatch.setattr(paths, "SHARED_DATASETS", tmp_path / "missing")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert paths.default_data_dir() == tmp_path / "home" / ".cache" / "lr-arena" / "datasets"


def test_the_shared_datasets_folder_is_next_to_the_repository():
    assert paths.SHARED_DATASETS == REPO_ROOT.parent / "shared" / "datasets"


def test_digits_split_is_fixed_stratified_and_standardised_with_train_statistics():
    x_train, y_train, x_test, y_test = load_digits()

    assert x_train.shape == (1437, 64) and x_test.shape == (360, 64)
    assert x_train.dtype == torch.float32 and y_train.dtype == torch.int64
    per_class = torch.bincount(torch.cat([y_train, y_test]), minlength=10)
    expected_in_test = per_class * 360 / 1797
    assert (torch.bincount(y_test, minlength=10) - expected_in_test).abs().max() <= 1  # stratified
    varying = x_train.std(dim=0) > 0
    assert x_train.mean(dim=0).abs().max() < 1e-5
    assert torch.allclose(x_train.std(dim=0)[varying], torch.ones(int(varying.sum())), atol=1e-4)
    # No feature is divided by a zero std (border pixels that never vary in train).
    assert x_test.abs().max() < 1000


def test_digits_split_does_not_depend_on_the_global_seed():
    load_digits.cache_clear()
    torch.manual_seed(1)
    first = load_digits()
    load_digits.cache_clear()
    torch.manual_seed(2)
    second = load_digits()

    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))


def test_digits_mlp_is_64_128_128_10():
    model = digits_mlp()

    shapes = [tuple(p.shape) for p in model.parameters()]
    assert shapes == [(128, 64), (128,), (128, 128), (128,), (10, 128), (10,)]
    assert model(torch.zeros(3, 64)).shape == (3, 10)


def test_lenet_has_lrbench_layer_shapes_and_431080_parameters():
    model = lenet()

    assert tuple(model.conv1.weight.shape) == (20, 1, 5, 5)
    assert tuple(model.conv2.weight.shape) == (50, 20, 5, 5)
    assert tuple(model.fc1.weight.shape) == (500, 800)
    assert tuple(model.fc2.weight.shape) == (10, 500)
    assert isinstance(model.pool1, torch.nn.MaxPool2d) and isinstance(model.relu, torch.nn.ReLU)
    assert sum(p.numel() for p in model.parameters()) == 431_080
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


@needs_mnist
def test_mnist_loads_the_real_data_as_normalised_tensors_once():
    x_train, y_train, x_test, y_test = load_mnist(paths.default_data_dir())

    assert x_train.shape == (60000, 1, 28, 28) and x_test.shape == (10000, 1, 28, 28)
    assert y_train.shape == (60000,) and y_test.shape == (10000,)
    assert x_train.dtype == torch.float32 and y_train.dtype == torch.int64
    assert y_train[:8].tolist() == [5, 0, 4, 1, 9, 2, 1, 3]  # MNIST's well-known first labels
    assert abs(x_train.mean().item()) < 1e-3
    assert abs(x_train.std().item() - 1) < 1e-3
    assert x_train.min().item() == pytest.approx(-0.1307 / 0.3081)
    assert load_mnist(paths.default_data_dir())[0] is x_train  # cached


class FakeMNIST:
    calls: list[dict] = []

    def __init__(self, root, train, download):
        FakeMNIST.calls.append({"root": root, "train": train, "download": download})
        n = 6 if train else 4
        self.data = torch.zeros(n, 28, 28, dtype=torch.uint8)
        self.targets = torch.arange(n)


def test_mnist_downloads_only_when_the_raw_files_are_missing(monkeypatch, tmp_path):
    import torchvision.datasets

    monkeypatch.setattr(torchvision.datasets, "MNIST", FakeMNIST)
    FakeMNIST.calls.clear()
    data._load_mnist.__wrapped__(str(tmp_path))
    assert [c["download"] for c in FakeMNIST.calls] == [True, True]

    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in data.MNIST_RAW_FILES:
        (raw / name).write_bytes(b"")
    FakeMNIST.calls.clear()
    x_train, *_ = data._load_mnist.__wrapped__(str(tmp_path))
    assert [c["download"] for c in FakeMNIST.calls] == [False, False]
    assert x_train.shape == (6, 1, 28, 28)


ALL_WORKLOADS = [
    "digits-mlp",
    "mnist-lenet",
    "mnist1d-mlp",
    "mnist-mlp",
    "gauss2-mlp",
    "cifar10-cnn3",
    "cifar10-resnet20",
    "cifar10-preresnet32",
]


def parameter_count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_the_registry_holds_every_workload_of_the_issue():
    # image-folder's options choose its data and model (a folder is required): tests/unit/test_image_folder.py.
    assert list(WORKLOADS) == [*ALL_WORKLOADS, "image-folder"]


@pytest.mark.parametrize("name", ALL_WORKLOADS)
def test_every_workload_model_maps_its_declared_input_shape_to_class_scores(name):
    workload = get_workload(name)

    model = workload.create_model()

    assert workload.train_size > 0 and workload.test_size > 0
    assert model(torch.zeros(2, *workload.input_shape)).shape == (2, workload.num_classes)


@pytest.mark.parametrize("name", ALL_WORKLOADS)
def test_build_model_without_arguments_builds_the_model_of_the_default_options(name):
    workload = get_workload(name)

    plain, default = workload.build_model(), workload.create_model()

    assert [(n, p.shape, p.requires_grad) for n, p in plain.named_parameters()] == [
        (n, p.shape, p.requires_grad) for n, p in default.named_parameters()
    ]


def test_cnn3_is_lrbench_three_5x5_convs_of_32_32_64_with_pooling_and_lrn_then_fc_10():
    from trainer.models import SpatialLRN, cnn3

    model = cnn3()

    assert [tuple(m.weight.shape) for m in (model.conv1, model.conv2, model.conv3)] == [
        (32, 3, 5, 5),
        (32, 32, 5, 5),
        (64, 32, 5, 5),
    ]
    assert isinstance(model.norm1, SpatialLRN) and isinstance(model.norm2, SpatialLRN)
    assert tuple(model.fc.weight.shape) == (10, 64 * 4 * 4)  # Caffe's ceil-mode pools: 32 -> 16 -> 8 -> 4
    assert parameter_count(model) == 89_578


def test_spatial_lrn_divides_by_the_mean_square_of_each_channels_3x3_neighbourhood():
    from trainer.models import SpatialLRN

    x = torch.arange(1.0, 19.0).view(1, 2, 3, 3)
    lrn = SpatialLRN(size=3, alpha=0.5, beta=0.75)

    out = lrn(x)

    # The centre pixel of channel 1 sees all nine of its channel's pixels, none of channel 0's.
    centre_window = x[0, 1].square().sum() / 9
    assert out[0, 1, 1, 1] == pytest.approx(x[0, 1, 1, 1] / (1 + 0.5 * centre_window) ** 0.75)
    # A corner sees four pixels; the zero padding counts in the mean.
    corner_window = x[0, 0, :2, :2].square().sum() / 9
    assert out[0, 0, 0, 0] == pytest.approx(x[0, 0, 0, 0] / (1 + 0.5 * corner_window) ** 0.75)


def test_resnet20_has_he_et_al_0_27m_parameters_and_batch_norm():
    from trainer.models import resnet20

    model = resnet20()

    assert parameter_count(model) == 269_722  # He et al.: 0.27M
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules()) == 19
    assert sum(isinstance(m, torch.nn.Conv2d) for m in model.modules()) == 19  # 20 layers with the fc


def test_preresnet32_has_0_46m_parameters_and_pre_activation_blocks():
    from trainer.models import preresnet32

    model = preresnet32()

    assert parameter_count(model) == pytest.approx(0.46e6, rel=0.02)
    assert len(model.blocks) == 15  # 3 stages of 5 blocks: 6 * 5 + 2 = 32 layers
    assert model.bn1 is None and model.bn_final is not None  # BN-ReLU comes before each conv, and at the end


def test_preresnet32_options_fix_the_batch_norms_scale_and_bias_and_the_last_layer():
    workload = get_workload("cifar10-preresnet32")

    model = workload.create_model({"fix_bn": True, "fix_last": True})
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    groups = workload.param_groups(model, {"fix_bn": True, "fix_last": True})

    batch_norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert all(not m.weight.requires_grad and not m.bias.requires_grad for m in batch_norms)
    assert all(torch.equal(m.weight, torch.ones_like(m.weight)) for m in batch_norms)
    assert not model.fc.weight.requires_grad and not model.fc.bias.requires_grad
    assert trainable and all(".conv" in f".{name}" or "shortcut" in name for name in trainable)
    assert sum(len(g["params"]) for g in groups) == len(trainable)  # fixed parameters get no optimizer state


def test_mnist_mlp_is_depth_hidden_relu_layers_of_width_units():
    workload = get_workload("mnist-mlp")

    model = workload.create_model({"depth": 3, "width": 64})

    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert [tuple(m.weight.shape) for m in linears] == [(64, 784), (64, 64), (64, 64), (10, 64)]
    assert sum(isinstance(m, torch.nn.ReLU) for m in model.modules()) == 3
    assert model(torch.zeros(5, 1, 28, 28)).shape == (5, 10)


def test_mnist_mlp_uses_kaiming_normal_init():
    torch.manual_seed(0)
    model = get_workload("mnist-mlp").create_model({"depth": 2, "width": 512})

    for layer, fan_in in ((model.fc1, 784), (model.fc2, 512)):
        weights = layer.weight.detach().flatten().double()
        assert weights.std().item() == pytest.approx((2 / fan_in) ** 0.5, rel=0.02)
        assert weights.mean().item() == pytest.approx(0.0, abs=0.05 * (2 / fan_in) ** 0.5)
        # A normal distribution's kurtosis is 3; torch's default (uniform) init would give 1.8.
        kurtosis = ((weights - weights.mean()) ** 4).mean() / weights.var() ** 2
        assert kurtosis.item() == pytest.approx(3.0, abs=0.1)
        assert torch.equal(layer.bias, torch.zeros_like(layer.bias))


def test_input_lr_scale_puts_the_input_layer_in_its_own_param_group():
    workload = get_workload("gauss2-mlp")
    model = workload.create_model({"depth": 2, "width": 16})

    groups = workload.param_groups(model, {"depth": 2, "width": 16, "input_lr_scale": 0.1})

    assert [g["lr_scale"] for g in groups] == [0.1, 1.0]
    assert groups[0]["params"] == [model.fc1.weight, model.fc1.bias]
    assert len(groups[1]["params"]) == 4  # fc2 and fc3
    assert [g["lr_scale"] for g in workload.param_groups(model, {})] == [1.0]


def test_workload_options_take_their_defaults_and_check_given_values():
    mlp = get_workload("mnist-mlp")

    assert mlp.resolve_options(None) == {"depth": 4, "width": 256, "input_lr_scale": 1.0}
    assert mlp.resolve_options({"depth": 2.0, "input_lr_scale": 1}) == {"depth": 2, "width": 256, "input_lr_scale": 1.0}
    assert get_workload("cifar10-preresnet32").resolve_options({"fix_bn": True}) == {"fix_bn": True, "fix_last": False}
    assert get_workload("mnist-lenet").resolve_options({}) == {}


@pytest.mark.parametrize(
    ("name", "options", "field"),
    [
        ("mnist-mlp", {"depth": 0}, "workload_options.depth"),
        ("mnist-mlp", {"depth": 2.5}, "workload_options.depth"),
        ("mnist-mlp", {"width": "wide"}, "workload_options.width"),
        ("mnist-mlp", {"width": True}, "workload_options.width"),
        ("gauss2-mlp", {"input_lr_scale": 0}, "workload_options.input_lr_scale"),
        ("gauss2-mlp", {"input_lr_scale": float("nan")}, "workload_options.input_lr_scale"),
        ("gauss2-mlp", {"dept": 3}, "workload_options.dept"),
        ("cifar10-preresnet32", {"fix_bn": 1}, "workload_options.fix_bn"),
        ("mnist-lenet", {"depth": 3}, "workload_options.depth"),
    ],
)
def test_bad_workload_options_raise_a_value_error_naming_the_option(name, options, field):
    with pytest.raises(ValueError, match=field.replace(".", r"\.")):
        get_workload(name).resolve_options(options)


def test_list_workloads_describes_each_workloads_options():
    summaries = {s["name"]: s for s in list_workloads()}

    assert [o["name"] for o in summaries["mnist-mlp"]["options"]] == ["depth", "width", "input_lr_scale"]
    assert [o["name"] for o in summaries["cifar10-preresnet32"]["options"]] == ["fix_bn", "fix_last"]
    assert summaries["cifar10-resnet20"]["input_shape"] == [3, 32, 32]
    assert summaries["gauss2-mlp"]["train_size"] == 18_000 and summaries["gauss2-mlp"]["target_accuracy"] == 0.90


SGD = OptimizerDefaults(momentum=0.9, weight_decay=5e-4)


def test_an_optimizer_override_replaces_the_workloads_settings_field_by_field():
    assert resolve_optimizer(SGD, None) == {"name": "sgd", "momentum": 0.9, "weight_decay": 5e-4, "nesterov": False}
    assert resolve_optimizer(SGD, {"nesterov": True}) == {
        "name": "sgd",
        "momentum": 0.9,
        "weight_decay": 5e-4,
        "nesterov": True,
    }
    assert resolve_optimizer(SGD, {"name": "adam"}) == {
        "name": "adam",
        "betas": [0.9, 0.999],
        "eps": 1e-8,
        "weight_decay": 0.0,
    }
    assert resolve_optimizer(SGD, {"name": "adamw", "betas": (0.8, 0.99)}) == {
        "name": "adamw",
        "betas": [0.8, 0.99],
        "eps": 1e-8,
        "weight_decay": 0.01,
    }


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"name": "rmsprop"}, "optimizer.name"),
        ({"momentum": 1.0}, "optimizer.momentum"),
        ({"momentum": "0.9"}, "optimizer.momentum"),
        ({"weight_decay": -1e-4}, "optimizer.weight_decay"),
        ({"nesterov": "yes"}, "optimizer.nesterov"),
        ({"nesterov": True, "momentum": 0.0}, "optimizer.nesterov"),
        ({"name": "adam", "betas": [0.9]}, "optimizer.betas"),
        ({"name": "adam", "betas": [0.9, 1.5]}, r"optimizer.betas\[1\]"),
        ({"name": "adamw", "eps": 0}, "optimizer.eps"),
        ({"name": "adam", "momentum": 0.9}, "optimizer.momentum"),
        ({"lr": 0.1}, "optimizer.lr"),
    ],
)
def test_bad_optimizer_settings_raise_a_value_error_naming_the_field(override, field):
    with pytest.raises(ValueError, match=field):
        resolve_optimizer(SGD, override)


def test_two_gaussians_have_the_stated_sizes_means_and_covariance():
    x_train, y_train, x_test, y_test = data.load_two_gaussians()

    assert x_train.shape == (18_000, 100) and x_test.shape == (2_000, 100)
    assert torch.bincount(y_train).tolist() == [9_000, 9_000] and torch.bincount(y_test).tolist() == [1_000, 1_000]
    x, y = torch.cat([x_train, x_test]).double(), torch.cat([y_train, y_test])
    mu = 1.645 / 100**0.5
    for label, sign in ((1, 1), (0, -1)):
        samples = x[y == label]
        means = samples.mean(dim=0)
        assert (means - sign * mu).abs().max() < 0.05  # 10,000 samples: each mean's std is 0.01
        assert means.mean().item() == pytest.approx(sign * mu, abs=0.005)
        covariance = torch.cov(samples.T)
        assert (covariance.diagonal() - 1).abs().max() < 0.1
        assert (covariance - torch.diag(covariance.diagonal())).abs().max() < 0.06


def test_two_gaussians_best_possible_accuracy_is_95_percent():
    x_train, y_train, x_test, y_test = data.load_two_gaussians()
    x, y = torch.cat([x_train, x_test]), torch.cat([y_train, y_test])

    bayes = ((x.sum(dim=1) > 0).long() == y).double().mean().item()  # the optimal rule for these means

    assert bayes == pytest.approx(0.95, abs=0.005)  # 20,000 samples: std 0.0015


def test_two_gaussians_are_the_same_whatever_the_global_seed():
    data.load_two_gaussians.cache_clear()
    torch.manual_seed(1)
    first = data.load_two_gaussians()
    data.load_two_gaussians.cache_clear()
    torch.manual_seed(2)
    second = data.load_two_gaussians()

    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))


def test_mnist1d_is_generated_offline_as_4000_train_and_1000_test_signals_and_keeps_global_rngs():
    import random

    import numpy as np

    np.random.seed(123)
    random.seed(123)
    expected = (np.random.rand(), random.random())
    np.random.seed(123)
    random.seed(123)
    data.load_mnist1d.cache_clear()

    x_train, y_train, x_test, y_test = data.load_mnist1d()

    assert (np.random.rand(), random.random()) == expected  # mnist1d seeds them; the loader restores them
    assert x_train.shape == (4000, 40) and x_test.shape == (1000, 40)
    assert x_train.dtype == torch.float32 and y_train.dtype == torch.int64
    assert set(torch.unique(y_train).tolist()) == set(range(10))
    assert abs(torch.cat([x_train, x_test]).mean().item()) < 1e-3  # mnist1d standardises the signals
    data.load_mnist1d.cache_clear()
    assert torch.equal(data.load_mnist1d()[0], x_train)  # generated from a fixed seed


def test_synthetic_data_has_the_workloads_shape_and_is_the_same_every_time():
    cifar = get_workload("cifar10-resnet20")

    first = data.synthetic(cifar.input_shape, cifar.num_classes, 300, 100)
    second = data.synthetic(cifar.input_shape, cifar.num_classes, 300, 100)

    x_train, y_train, x_test, y_test = first
    assert x_train.shape == (300, 3, 32, 32) and x_test.shape == (100, 3, 32, 32)
    assert y_train.dtype == torch.int64 and 0 <= y_train.min() and y_train.max() < 10
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))


class FakeCIFAR10:
    calls: list[dict] = []

    def __init__(self, root, train, download):
        FakeCIFAR10.calls.append({"root": root, "train": train, "download": download})
        n = 4 if train else 2
        self.data = torch.randint(0, 256, (n, 32, 32, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(n))
        self.data[0] = 0
        self.targets = list(range(n))


def test_cifar10_loader_reads_synthetic_images_through_torchvision_as_normalised_nchw(monkeypatch, tmp_path):
    import torchvision.datasets

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", FakeCIFAR10)
    FakeCIFAR10.calls.clear()

    x_train, y_train, x_test, y_test = data._load_cifar10.__wrapped__(str(tmp_path))

    assert [c["download"] for c in FakeCIFAR10.calls] == [True, True]  # torchvision skips a download it has
    assert x_train.shape == (4, 3, 32, 32) and x_test.shape == (2, 3, 32, 32)
    assert y_train.tolist() == [0, 1, 2, 3] and y_train.dtype == torch.int64
    black = torch.tensor(data.CIFAR10_BLACK).view(3, 1, 1).expand(3, 32, 32)
    assert torch.allclose(x_train[0], black)
    pixel = FakeCIFAR10(None, True, False).data[1, 5, 7]  # (H, W, C) uint8
    expected = (pixel / 255 - torch.tensor(data.CIFAR10_MEAN)) / torch.tensor(data.CIFAR10_STD)
    assert torch.allclose(x_train[1, :, 5, 7], expected.float(), atol=1e-6)


class UnreachableMNIST:
    def __init__(self, root, train, download):
        if download:
            raise RuntimeError("Error downloading train-images-idx3-ubyte.gz")
        raise RuntimeError("Dataset not found. You can use download=True to download it")


def test_mnist_missing_and_not_downloadable_raises_data_unavailable_naming_the_folder(monkeypatch, tmp_path):
    import torchvision.datasets

    monkeypatch.setattr(torchvision.datasets, "MNIST", UnreachableMNIST)

    with pytest.raises(data.DataUnavailable) as raised:
        data._load_mnist.__wrapped__(str(tmp_path))

    assert str(tmp_path / "MNIST" / "raw") in str(raised.value)
    assert "could not be downloaded" in str(raised.value)


def crop_flip(images: torch.Tensor, seed: int, padding: int = 4, fill=(-1.0, -2.0, -3.0)) -> torch.Tensor:
    return data.random_crop_flip(images, torch.Generator().manual_seed(seed), padding, fill)


def mirrored(image: torch.Tensor, flip: bool) -> torch.Tensor:
    return image.flip(2) if flip else image


def test_random_crop_flip_of_synthetic_cifar_images_is_a_shifted_window_of_the_padded_image_maybe_mirrored():
    images = torch.randn(64, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    fill = torch.tensor([-1.0, -2.0, -3.0]).view(3, 1, 1)
    padded = fill.expand(64, 3, 40, 40).clone()
    padded[:, :, 4:36, 4:36] = images

    out = crop_flip(images, seed=1)

    assert out.shape == images.shape
    flips, shifts = 0, set()
    for i in range(len(images)):
        matches = [
            (dy, dx, flip)
            for dy in range(9)
            for dx in range(9)
            for flip in (False, True)
            if torch.equal(out[i], mirrored(padded[i, :, dy : dy + 32, dx : dx + 32], flip))
        ]
        assert len(matches) == 1, f"sample {i}: {matches}"
        dy, dx, flip = matches[0]
        flips += flip
        shifts.add((dy, dx))
    assert 16 < flips < 48  # about half are mirrored
    assert len(shifts) > 20  # offsets vary from sample to sample


def test_random_crop_flip_draws_from_the_generator_it_is_given():
    images = torch.randn(16, 3, 32, 32)

    assert torch.equal(crop_flip(images, seed=5), crop_flip(images, seed=5))
    assert not torch.equal(crop_flip(images, seed=5), crop_flip(images, seed=6))
    unpadded = crop_flip(images, seed=5, padding=0)
    assert all(torch.equal(o, x) or torch.equal(o, x.flip(2)) for o, x in zip(unpadded, images, strict=True))
