"""LRBench's test-set metrics (shared/reference/lrbench.md, "Metrics")."""

from __future__ import annotations

import torch


def lrbench_metrics(logits: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """Top-1, top-5 and the confidence metrics of one evaluation.

    With conf(i) the largest softmax probability of sample i and C the correctly
    classified samples:
    - top1, top5: share of samples whose label is the first / among the five
      highest scores (top-k with k = the number of classes when there are fewer than 5);
    - ac: mean of conf(i) over C;
    - cv: the population standard deviation of conf(i) over C (LRBench calls it
      "confidence variance" but computes a standard deviation);
    - cvac: the population standard deviation, across classes, of each class's
      mean conf(i) over C; classes with no correct sample are left out.
    When no sample is correct, ac, cv and cvac are 0.0: there is no confidence
    to measure, and 0.0 keeps the results plain numbers. A single correct sample
    (or class) gives cv (or cvac) 0.0 for the same reason.
    """
    if logits.ndim != 2 or labels.ndim != 1 or len(logits) != len(labels):
        raise ValueError(f"expected logits (N, C) and labels (N,), got {tuple(logits.shape)} and {tuple(labels.shape)}")
    if len(labels) == 0:
        raise ValueError("no samples to measure")
    num_classes = logits.shape[1]

    # The (N, C) work happens on the logits' device; only N-vectors come back to the host.
    probs = logits.detach().float().softmax(dim=1)
    k = min(5, num_classes)
    top_probs, top_classes = probs.topk(k, dim=1)
    labels = labels.to(top_classes.device)
    correct = (top_classes[:, 0] == labels).cpu()
    in_top_k = (top_classes == labels[:, None]).any(dim=1).cpu()
    conf = top_probs[:, 0].to("cpu", torch.float64)
    labels = labels.cpu()

    n = len(labels)
    top1 = correct.sum().item() / n
    top5 = in_top_k.sum().item() / n
    if not correct.any():
        return {"top1": top1, "top5": top5, "ac": 0.0, "cv": 0.0, "cvac": 0.0}

    conf_correct = conf[correct]
    class_of_correct = labels[correct]
    count_per_class = torch.bincount(class_of_correct, minlength=num_classes)
    conf_sum_per_class = torch.bincount(class_of_correct, weights=conf_correct, minlength=num_classes)
    has_correct = count_per_class > 0
    mean_conf_per_class = conf_sum_per_class[has_correct] / count_per_class[has_correct]
    return {
        "top1": top1,
        "top5": top5,
        "ac": conf_correct.mean().item(),
        "cv": conf_correct.std(correction=0).item(),
        "cvac": mean_conf_per_class.std(correction=0).item(),
    }
