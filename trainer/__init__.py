"""LR Arena's trainer: plain PyTorch, usable on its own.

`python -m trainer train ...` trains one run from the command line;
`trainer.engine.train(config, on_epoch=...)` does the same from Python.

This module stays light on purpose: the web process imports it (and
`trainer.paths`) without paying for torch. Import the submodules you need.

Module map: which module to open for what.

    schedules/     LR policies: each kind declared once (params.py), built and validated
                   from its declaration; `Policy.lr_at(t)` is pure. Start at its __init__.
    workloads      the registry: data set + model + optimizer defaults + options, by name.
    data, models   the data loaders (whole tensors; DataSource, the batches the engine reads) and
                   the networks the workloads use.
    imagefolder    the image-folder workload: any torchvision classifier on a folder of images,
                   held on the device or streamed by DataLoader workers.

    core           what every training loop shares: TrainConfig, plan() (the checked config,
                   raising UserInputError), load_data, build_model, build_optimizer,
                   workload_threads, epoch_metrics, summarise, run_result, json_safe.
    engine         THE training loop: train(config) for one run. Read it top to bottom.
    batched        K runs of one workload trained together as stacked models (functional);
                   results equal K engine runs, or it falls back to the engine.
    checkpoint     writing/reading a run's checkpoint file and RNG states (resume).
    divergence     the one rule for "this run diverged".
    summary        a run's summary from its epochs (torch-free: the web process summarises
                   self-reported runs with it too).
    metrics        LRBench's test-set metrics.

    tool_params    ToolParam: a research tool's parameters declared once; the tool checks
                   them, its CLI flags and the dashboard's job API fields are generated.
                   A new tool is one module: its ToolParams, plan/run functions and
                   register_cli (listed in cli); as a job, a class in dashboard.jobs and a Job.Kind.
    max_lr         research tool: η*, the maximal initial LR (Iyer et al., binary search).
    lr_grid        research tool: η* over MLP depth x width, and its power-law fit.
    range_test     research tool: the LR range test and its suggested LRs.
    meta           research tool: MLR-SNet meta-training (a learned LR schedule); light.
      mlrsnet        its net and online meta-training loop (torch), run by meta.
    equivalence    research tool: Li & Arora's weight-decay <-> LR-schedule equivalence; light.
      scale_invariant  its scale-invariant networks and the two side-by-side runs (torch).
    search         the old import path of max_lr, lr_grid and range_test (re-exports).

    cli            `python -m trainer`: the parser, `train`, `workloads`; registers the tools.
    search_cli     the `lr-search`, `lr-grid`, `lr-range` commands (meta and equivalence
                   register their own).
    cli_support    what the commands share: exit codes, BadInput, --option, Ctrl-C, JSON lines,
                   and a tool command's where-flags and check-run-report runner.

    errors         UserInputError(field, message): the one exception for bad user input
                   (SpecError, UnknownWorkload, CheckpointError, ... are subclasses).
    checks         small argument checks (real, integer, ...) raising UserInputError.
    paths          where data sets live (no torch).

Dependencies point one way: tools -> engine/batched -> core -> workloads, schedules,
data, models; cli -> *_cli -> tools -> cli_support/errors. No module uses another's
private (_underscore) names; `python3 ../shared/hooks/structure.py .` checks it.
"""
