"""Report a run of your own PyTorch training loop to LR Arena.

    import lr_arena_client as arena

    run = arena.open_run("http://localhost:8000", token, policy="Step 0.1", workload="my-cifar-resnet",
                         epochs=20, iterations_per_epoch=len(train_loader))
    scheduler = run.lr_scheduler(optimizer)   # LR Arena's own as_lr_scheduler, from the run's policy spec
    for epoch in range(1, 21):
        for x, y in train_loader:
            ...; optimizer.step(); scheduler.step()
        run.log_epoch(epoch, train_loss=..., logits=test_logits, labels=test_labels)
    run.finish()

The HTTP part needs only `requests`. `Run.lr_scheduler` and `log_epoch(logits=...)`
use LR Arena's own `trainer.schedules` and `trainer.metrics` (the engine's), so
the lr-arena checkout must be importable there, with torch: `pip install -e
/path/to/lr-arena` installs its `trainer` package (or put it on PYTHONPATH).

Nothing here starts a thread or exits the process: it works the same in a
notebook. No epoch is lost to the network: each one waits in a buffer (in
memory, and in a JSON-lines file if you name one) until the server has it, and
is sent again, in order, with the next epoch, `flush()` or `finish()`. The
server stores an epoch once: sending it again is harmless, and an open sent
again (its answer lost) gets the same run. A run that reports nothing for the
server's ARENA_REPORT_TIMEOUT_SECONDS (6 hours) ends failed, abandoned: in
longer epochs call `run.heartbeat()` from the batch loop.
"""

from __future__ import annotations

from lr_arena_client.client import ArenaError, ArenaUnavailable, Run, login, open_run, resume

__all__ = ["ArenaError", "ArenaUnavailable", "Run", "login", "open_run", "resume"]
