"""A self-reported run's workload is its team's own: stored as "<team-slug>/<name>" (actions.team_workload).

Runs reported before are renamed so, so that two teams' workloads of one name no longer share a board.
"""

from django.db import migrations, models


def namespace(apps, schema_editor):
    Run = apps.get_model("dashboard", "Run")
    for run in Run.objects.filter(self_reported=True).exclude(workload__contains="/").select_related("team"):
        Run.objects.filter(pk=run.pk).update(workload=f"{run.team.slug}/{run.workload}")


def bare(apps, schema_editor):
    Run = apps.get_model("dashboard", "Run")
    for run in Run.objects.filter(self_reported=True, workload__contains="/"):
        Run.objects.filter(pk=run.pk).update(workload=run.workload.rpartition("/")[2])


class Migration(migrations.Migration):
    dependencies = [("dashboard", "0011_merge_self_reported_runs_workload_options")]

    operations = [
        migrations.AlterField(model_name="run", name="workload", field=models.CharField(db_index=True, max_length=151)),
        migrations.RunPython(namespace, bare),
    ]
