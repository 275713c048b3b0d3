# Issue 11: a run's hardware-independent cost to the target, in training samples.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("dashboard", "0004_jobs"),
    ]

    operations = [
        migrations.AddField(
            model_name="run",
            name="samples_to_target",
            field=models.PositiveBigIntegerField(blank=True, null=True),
        ),
    ]
