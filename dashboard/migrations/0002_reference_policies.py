"""Curated reference policies (LRBench's defaults and the papers' schedules),
published by the "LR Arena reference" team so that everyone sees them."""

from django.db import migrations

REFERENCE = [
    (
        "LRBench LeNet default (INV)",
        "Caffe's LeNet solver as LRBench runs it: 0.01·(1 + 1e-4·t)^-0.75, t in iterations.",
        {"kind": "INV", "k0": 0.01, "gamma": 0.0001, "p": 0.75, "unit": "iteration"},
    ),
    (
        "LRBench MNIST composite (SIN → FIX)",
        "LRBench's composite example for MNIST: SIN(1.0, 6.0, l=5) for epochs 0-10, "
        "then FIX(0.5); reported at 99.35% against 99.25% for the default.",
        {
            "kind": "PIECEWISE",
            "boundaries": [10],
            "stages": [{"kind": "SIN", "k0": 1.0, "k1": 6.0, "l": 5}, {"kind": "FIX", "k0": 0.5}],
        },
    ),
    (
        "ImageNet ResNet-18 step",
        "LRBench's ImageNet default: 0.1, ×0.1 every 30 epochs (90 epochs, batch 256).",
        {"kind": "STEP", "k0": 0.1, "gamma": 0.1, "l": 30},
    ),
    (
        "CIFAR multi-step 0.1",
        "The common CIFAR schedule: 0.1, ×0.1 at epochs 100 and 150.",
        {"kind": "NSTEP", "k0": 0.1, "gamma": 0.1, "l": [100, 150]},
    ),
    (
        "SGDR (cosine warm restarts)",
        "Cosine annealing from 0.1 to 0 with a restart every 10 epochs.",
        {"kind": "COSRSW", "k0": 0.0, "k1": 0.1, "l": 10},
    ),
    (
        "One-cycle 0.1 over 30 epochs",
        "torch's OneCycleLR with max_lr 0.1 over 30 epochs.",
        {"kind": "ONECYCLE", "max_lr": 0.1, "total": 30},
    ),
    (
        "Triangular CLR 0.001-0.006",
        "Smith's cyclical LR for CIFAR: 0.001 to 0.006, half-cycle 2,000 iterations.",
        {"kind": "TRI", "k0": 0.001, "k1": 0.006, "l": 2000, "unit": "iteration"},
    ),
    (
        "Li & Arora exponential growth",
        "Fixed LR 0.1 with weight decay 5e-4 and momentum 0.9, as the equivalent "
        "exponentially growing LR trained without weight decay.",
        {"kind": "EXPGROW", "k0": 0.1, "wd": 0.0005, "momentum": 0.9, "unit": "iteration"},
    ),
    (
        "Li & Arora TEXP",
        "Step decay (0.1, 0.01, 0.001 at epochs 100 and 150 of 391 iterations) as the tapered "
        "exponential schedule without weight decay.",
        {
            "kind": "TEXP",
            "boundaries": [39100, 58650],
            "lrs": [0.1, 0.01, 0.001],
            "wd": 0.0005,
            "momentum": 0.9,
            "unit": "iteration",
        },
    ),
]


def create(apps, schema_editor):
    from django.utils import timezone

    from trainer import schedules

    Team = apps.get_model("dashboard", "Team")
    Policy = apps.get_model("dashboard", "Policy")
    team, _ = Team.objects.get_or_create(slug="reference", defaults={"name": "LR Arena reference"})
    for name, description, spec in REFERENCE:
        Policy.objects.get_or_create(
            team=team,
            name=name,
            defaults={
                "description": description,
                "spec": schedules.validate(spec),
                "published": True,
                "published_at": timezone.now(),
            },
        )


def remove(apps, schema_editor):
    apps.get_model("dashboard", "Team").objects.filter(slug="reference").delete()


class Migration(migrations.Migration):
    dependencies = [("dashboard", "0001_initial")]
    operations = [migrations.RunPython(create, remove)]
