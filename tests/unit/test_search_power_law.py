"""η* ≈ C·(depth·width)^(−p): the least-squares fit on log-log axes, and the depth × width grid it comes from."""

import math
import random

import numpy as np
import pytest
from scipy import stats

from trainer import engine
from trainer.search import fit_power_law, lr_grid

SIZES = [64, 128, 256, 512, 1024, 2048]


def test_it_recovers_c_and_p_from_exact_data():
    fit = fit_power_law(SIZES, [3 * s**-0.5 for s in SIZES])

    assert fit["C"] == pytest.approx(3.0, rel=1e-9)
    assert fit["p"] == pytest.approx(0.5, rel=1e-9)
    assert fit["r2"] == pytest.approx(1.0)
    assert fit["p_ci"][0] == pytest.approx(0.5, abs=1e-9) and fit["p_ci"][1] == pytest.approx(0.5, abs=1e-9)
    assert fit["n"] == 6 and fit["dropped"] == 0


def test_its_confidence_interval_contains_p_on_noisy_data():
    noise = random.Random(0)
    sizes = [s for s in SIZES for _ in range(3)]
    etas = [3 * s**-0.5 * math.exp(noise.gauss(0, 0.1)) for s in sizes]

    fit = fit_power_law(sizes, etas)

    low, high = fit["p_ci"]
    assert low < 0.5 < high
    assert low < fit["p"] < high
    assert 0 < high - low < 0.3
    assert 0.9 < fit["r2"] < 1.0


def test_its_interval_is_students_t_on_the_slopes_standard_error():
    noise = random.Random(2)
    etas = [3 * s**-0.5 * math.exp(noise.gauss(0, 0.1)) for s in SIZES]
    reference = stats.linregress(np.log(SIZES), np.log(etas))

    fit = fit_power_law(SIZES, etas, confidence=0.9)

    half_width = stats.t.ppf(0.95, len(SIZES) - 2) * reference.stderr
    assert fit["p"] == pytest.approx(-reference.slope)
    assert fit["C"] == pytest.approx(math.exp(reference.intercept))
    assert fit["r2"] == pytest.approx(reference.rvalue**2)
    assert fit["p_stderr"] == pytest.approx(reference.stderr)
    assert fit["p_ci"] == pytest.approx([-reference.slope - half_width, -reference.slope + half_width])


def test_a_higher_confidence_widens_the_interval():
    noise = random.Random(1)
    etas = [3 * s**-0.5 * math.exp(noise.gauss(0, 0.1)) for s in SIZES]

    narrow = fit_power_law(SIZES, etas, confidence=0.5)["p_ci"]
    wide = fit_power_law(SIZES, etas, confidence=0.99)["p_ci"]

    assert wide[0] < narrow[0] and narrow[1] < wide[1]


def test_it_drops_points_where_no_lr_succeeded_and_counts_them():
    fit = fit_power_law([64, 128, 256, 512], [0.0, 3 * 128**-0.5, 3 * 256**-0.5, 3 * 512**-0.5])

    assert fit["n"] == 3 and fit["dropped"] == 1
    assert fit["p"] == pytest.approx(0.5)


def test_it_needs_three_points_with_a_positive_eta_star():
    with pytest.raises(ValueError, match="at least 3 points"):
        fit_power_law([64, 128], [0.3, 0.2])
    with pytest.raises(ValueError, match="at least 3 points"):
        fit_power_law([64, 128, 256], [0.3, 0.2, 0.0])


@pytest.mark.parametrize(
    ("sizes", "etas", "named"),
    [
        ([64, 128, 256], [0.3, 0.2], "same length"),
        ([64, 0, 256], [0.3, 0.2, 0.1], r"sizes\[1\]"),
        ([64, 128, 256], [0.3, -0.2, 0.1], r"eta_stars\[1\]"),
        ([128, 128, 128], [0.3, 0.2, 0.1], "different sizes"),
    ],
)
def test_it_rejects_data_it_cannot_fit(sizes, etas, named):
    with pytest.raises(ValueError, match=named):
        fit_power_law(sizes, etas)


@pytest.fixture
def eta_star_is_a_power_of_size(monkeypatch):
    """engine.train replaced: a probe succeeds iff lr <= 3·(depth·width)^-0.5."""

    def fake_train(config, on_epoch=None, should_stop=None):
        size = config.workload_options["depth"] * config.workload_options["width"]
        accuracy = 0.95 if config.policy["k0"] <= 3 * size**-0.5 else 0.5
        on_epoch({"epoch": 1, "test_acc": accuracy, "train_loss": 0.3})
        return {"status": "succeeded"}

    monkeypatch.setattr(engine, "train", fake_train)


def test_the_grid_searches_every_depth_and_width_and_fits_the_power_law(eta_star_is_a_power_of_size):
    cells, probes = [], []

    result = lr_grid("gauss2-mlp", [1, 2, 4], [64, 128], iterations=12, on_cell=cells.append, on_probe=probes.append)

    assert [(c["depth"], c["width"], c["size"]) for c in result["cells"]] == [
        (1, 64, 64),
        (1, 128, 128),
        (2, 64, 128),
        (2, 128, 256),
        (4, 64, 256),
        (4, 128, 512),
    ]
    assert cells == [{k: c[k] for k in ("depth", "width", "size", "eta_star")} for c in result["cells"]]
    assert len(probes) == 6 * 12
    assert [(p["depth"], p["width"]) for p in probes[::12]] == [(c["depth"], c["width"]) for c in result["cells"]]
    assert result["fit"]["p"] == pytest.approx(0.5, abs=0.01)
    assert result["fit"]["C"] == pytest.approx(3.0, rel=0.05)
    assert result["fit_error"] is None


def test_the_grid_sets_the_input_layers_lr_scale_in_every_cell(eta_star_is_a_power_of_size, monkeypatch):
    seen = []
    fake = engine.train
    monkeypatch.setattr(
        engine, "train", lambda config, **kw: seen.append(config.workload_options) or fake(config, **kw)
    )

    result = lr_grid("gauss2-mlp", [1], [64, 128], input_lr_scale=0.1, iterations=1)

    assert result["input_lr_scale"] == 0.1
    assert [options["input_lr_scale"] for options in seen] == [0.1, 0.1]


def test_a_grid_on_two_gaussians_gives_one_cell_per_network_and_a_fit_error_below_three_cells():
    result = lr_grid(
        "gauss2-mlp", [1], [16, 32], high=8.0, iterations=2, epochs=1, limit_train_batches=10, device="cpu"
    )

    assert [(c["depth"], c["width"]) for c in result["cells"]] == [(1, 16), (1, 32)]
    assert all(c["eta_star"] in (0.0, 2.0, 4.0, 6.0) for c in result["cells"])  # 2 halvings of [0, 8]
    assert all(c["high"] - c["eta_star"] == 2.0 for c in result["cells"])
    assert result["fit"] is None
    assert "at least 3" in result["fit_error"]


@pytest.mark.parametrize(
    ("workload", "depths", "widths", "options", "named"),
    [
        ("digits-mlp", [1], [64], None, "workload"),
        ("gauss2-mlp", [], [64], None, "depths"),
        ("gauss2-mlp", [1, 1], [64], None, "depths"),
        ("gauss2-mlp", [1], ["64"], None, "widths"),
        ("gauss2-mlp", [1], [5000], None, "workload_options.width"),
        ("gauss2-mlp", [1], [64], {"depth": 2}, "workload_options.depth"),
    ],
)
def test_the_grid_rejects_bad_arguments_naming_them(workload, depths, widths, options, named):
    with pytest.raises(ValueError, match=named):
        lr_grid(workload, depths, widths, workload_options=options)
