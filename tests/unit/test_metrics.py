import math

import pytest
import torch

from trainer.metrics import lrbench_metrics


def logits_for(probabilities: list[list[float]]) -> torch.Tensor:
    """Logits whose softmax is exactly the given rows (each sums to 1)."""
    return torch.tensor(probabilities, dtype=torch.float64).log()


def test_confidence_metrics_match_a_hand_computed_case_and_leave_out_a_class_with_no_correct_sample():
    logits = logits_for(
        [
            [0.7, 0.2, 0.1],  # label 0: correct, conf 0.7
            [0.5, 0.3, 0.2],  # label 0: correct, conf 0.5
            [0.1, 0.8, 0.1],  # label 1: correct, conf 0.8
            [0.6, 0.3, 0.1],  # label 1: wrong
            [0.4, 0.35, 0.25],  # label 2: wrong, and class 2 has no correct sample
        ]
    )
    labels = torch.tensor([0, 0, 1, 1, 2])

    m = lrbench_metrics(logits, labels)

    assert m["top1"] == pytest.approx(3 / 5)
    assert m["top5"] == 1.0  # 3 classes: top-5 is top-3, which always holds
    assert m["ac"] == pytest.approx((0.7 + 0.5 + 0.8) / 3)
    mean = 2 / 3
    population_std = math.sqrt(((0.7 - mean) ** 2 + (0.5 - mean) ** 2 + (0.8 - mean) ** 2) / 3)
    assert m["cv"] == pytest.approx(population_std)
    # Per-class means 0.6 (class 0) and 0.8 (class 1); class 2 is left out, not counted as 0.
    assert m["cvac"] == pytest.approx(0.1)


def test_top5_counts_a_label_ranked_fifth_but_not_one_ranked_sixth():
    scores = torch.tensor([[7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0]] * 2)
    labels = torch.tensor([4, 5])  # ranked fifth, ranked sixth

    m = lrbench_metrics(scores, labels)

    assert m["top1"] == 0.0
    assert m["top5"] == 0.5


def test_with_fewer_than_five_classes_top5_is_top_k_over_all_classes():
    m = lrbench_metrics(torch.tensor([[3.0, 2.0], [1.0, 5.0]]), torch.tensor([1, 0]))

    assert m["top1"] == 0.0
    assert m["top5"] == 1.0


def test_no_correct_sample_gives_zero_confidence_metrics():
    m = lrbench_metrics(torch.tensor([[2.0, 0.0], [0.0, 2.0]]), torch.tensor([1, 0]))

    assert m == {"top1": 0.0, "top5": 1.0, "ac": 0.0, "cv": 0.0, "cvac": 0.0}


def test_metrics_are_plain_floats():
    m = lrbench_metrics(torch.randn(50, 10), torch.randint(0, 10, (50,)))

    assert all(type(v) is float for v in m.values())


def test_it_rejects_logits_and_labels_of_different_lengths():
    with pytest.raises(ValueError):
        lrbench_metrics(torch.zeros(4, 3), torch.zeros(5, dtype=torch.int64))
