"""Every change of state happens here: save, then broadcast after the commit.

One module per domain; views, the API and tasks call `actions.<name>`, and
none of them talks to the channel layer itself. The runs' and jobs' state
machines go through dashboard/fleet.py's one guarded transition.

| module | what |
|---|---|
| `runs` | queue, start (or take over), record epochs, finish, fail, cancel, requeue a run |
| `reports` | self-reported runs: open (once per client key), epochs (idempotent), heartbeat, finish, fail, abandon |
| `studies` | create a study and send its runs in groups |
| `halving` | successive halving, live: decide a rung, send the best on, stop the rest |
| `jobs` | research jobs: queue, start, progress events, finish, fail, cancel |
| `policies` | create, edit, publish, archive, duplicate, convert policies |
| `teams` | teams, members, roles, invitations |
| `quotas` | what a team may queue |
| `common` | JSON-safe values; telling the boards after a commit |
"""

from __future__ import annotations

from dashboard.actions.common import (  # noqa: F401
    board_changed,
    clean,
    finite_or_none,
)
from dashboard.actions.halving import (  # noqa: F401
    advance as advance_halving,
)
from dashboard.actions.halving import (  # noqa: F401
    waiting_studies,
)
from dashboard.actions.jobs import (  # noqa: F401
    broadcast_job_state,
    cancel_job,
    fail_job,
    finish_job,
    is_job_cancelled,
    job_state,
    queue_job,
    record_job_event,
    start_job,
)
from dashboard.actions.policies import (  # noqa: F401
    archive_policy,
    convert_policy,
    create_policy,
    duplicate_policy,
    free_policy_name,
    publish_policy,
    unpublish_policy,
    update_policy,
)
from dashboard.actions.quotas import (  # noqa: F401
    QuotaExceeded,
    active_work,
    check_job_quota,
    check_quota,
)
from dashboard.actions.reports import (  # noqa: F401
    EpochConflict,
    OpenConflict,
    ReportRefused,
    RunClosed,
    abandon_silent_runs,
    fail_reported_run,
    finish_reported_run,
    open_reported_run,
    report_epoch,
    report_heartbeat,
)
from dashboard.actions.runs import (  # noqa: F401
    RESULT_STATUS,
    SUMMARY_FIELDS,
    Lost,
    broadcast_run_state,
    cancel_run,
    device_label,
    fail_run,
    finish_run,
    holds,
    queue_run,
    record_epoch,
    record_progress,
    recover_runs,
    requeue_run,
    start_run,
)
from dashboard.actions.studies import (  # noqa: F401
    batch_ids,
    create_study,
    send_batches,
)
from dashboard.actions.teams import (  # noqa: F401
    accept_invitation,
    create_invitation,
    create_team,
    invitation_for_token,
    invitation_problem,
    invitation_token,
    remove_member,
    revoke_invitation,
    set_role,
)
