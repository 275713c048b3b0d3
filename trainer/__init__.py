"""LR Arena's trainer: plain PyTorch, usable on its own.

`python -m trainer train ...` trains one run from the command line;
`trainer.engine.train(config, on_epoch=...)` does the same from Python.

This module stays light on purpose: the web process imports it (and
`trainer.paths`) without paying for torch. Import the submodules you need.
"""
