"""LR Arena workload plugin: a character-level Transformer language model.

This module is the plugin's declaration. It imports no torch (LR Arena's web
process imports it to list the workload and check options); the factories,
named as "module:function" strings, are imported by workers when they train.
"""

from __future__ import annotations

import math

from trainer.workloads import OptimizerDefaults, Option, Workload


def perplexity(metrics: dict) -> dict:
    """exp(mean cross-entropy per character), of the test and training sets."""
    return {
        f"{split}_perplexity": math.exp(min(metrics[f"{split}_loss"], 700.0))  # exp(>709) overflows a float
        for split in ("test", "train")
        if metrics.get(f"{split}_loss") is not None
    }


WORKLOAD = Workload(
    name="charlm",
    title="Python sources, character Transformer",
    description=(
        "Next-character prediction on 15 modules of the Python standard library's own sources (about 800 kB of "
        "text every machine has): a 2-layer GPT-style Transformer (2 heads of width 16, pre-norm) reads 32 "
        "characters and scores the next of 97 classes. Top-1 is next-character accuracy; perplexity is "
        "reported per epoch. AdamW, batch 64; an epoch takes seconds on a CPU, and warm-up matters."
    ),
    num_classes=97,  # "\n", printable ASCII, and one class for every other character
    batch_size=64,
    default_epochs=10,
    target_accuracy=0.48,  # about 10 epochs with a warm-up then a constant 3e-3; 28% always guesses " "
    optimizer=OptimizerDefaults(name="adamw", weight_decay=0.01),
    load_data="lr_arena_charlm.data:load",
    build_model="lr_arena_charlm.model:build",
    derived_metrics=perplexity,
    cpu_threads=1,  # small matrices: more threads cost more in synchronisation than they save
    input_shape=(32,),
    train_size=25_600,
    test_size=2_048,
    eval_batch_size=512,
    options=(
        Option("layers", int, 2, low=1, high=12, help="Transformer blocks"),
        Option("heads", int, 2, low=1, high=16, help="attention heads per block"),
        Option("head_width", int, 16, low=4, high=128, help="width of each head; the model's width is heads x this"),
    ),
)
