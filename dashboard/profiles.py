"""Policies across workloads: performance profiles (Dolan & Moré 2002), as AlgoPerf ranks training algorithms.

A suite is several boards, each a (workload, epoch budget). On each board a
policy's cost is its mean iterations to the target accuracy (hardware-independent;
the LRBench rule's cost), defined only when every seed reached the target. Its
ratio on a board is that cost over the best policy's cost there; a policy that
did not reach the target on a board, or did not run on it, has no ratio (it
fails there). The policy's performance profile is

    rho(tau) = the share of the suite's boards on which its ratio is at most tau,

a step function from tau = 1 (the boards it is best on) rising to tau_max. Its
score is the area under the profile over [1, tau_max], divided by tau_max - 1:
1 for a policy that is best everywhere, 0 for one never within tau_max of the
best. AlgoPerf integrates up to tau_max = 4, the default here.
"""

from __future__ import annotations

from dashboard import leaderboard

TAU_MAX = 4.0
MAX_BOARDS = 20
COST = "iterations_to_target"


def board_key(workload: str, epochs: int) -> str:
    return f"{workload}:{epochs}"


def parse_boards(raw: str, workloads: set[str]) -> list[tuple[str, int]]:
    """`digits-mlp:8, mnist-lenet:17` -> [("digits-mlp", 8), ("mnist-lenet", 17)]; ValueError naming the bad part."""
    boards: list[tuple[str, int]] = []
    for part in filter(None, (p.strip() for p in raw.split(","))):
        workload, _, epochs = part.rpartition(":")
        if workload not in workloads:
            raise ValueError(f"{part!r}: unknown workload {workload or part!r}; write <workload>:<epochs>")
        if not epochs.isdigit() or int(epochs) < 1:
            raise ValueError(f"{part!r}: the epoch budget must be a positive integer")
        if (workload, int(epochs)) not in boards:
            boards.append((workload, int(epochs)))
    if not boards:
        raise ValueError("choose at least one board, as <workload>:<epochs>")
    if len(boards) > MAX_BOARDS:
        raise ValueError(f"at most {MAX_BOARDS} boards at once")
    return boards


def available_boards(user, view: str) -> list[tuple[str, int]]:
    """The (workload, budget) pairs with finished runs this user can see in this view."""
    runs = leaderboard.board_runs(user, view).filter(status="succeeded", lr_scale=1.0)
    return sorted(set(runs.order_by().values_list("workload", "epochs").distinct()))


def profile_of(ratios: list[float | None], tau_max: float) -> tuple[list[list[float]], float]:
    """The step function [[tau, rho], ...] from tau = 1 to tau_max, and its normalised area."""
    count = len(ratios)
    within = sorted(r for r in ratios if r is not None and r <= tau_max)
    points = [[1.0, sum(1 for r in within if r <= 1.0) / count]]
    for tau in sorted(set(within)):
        if tau > 1.0:
            points.append([tau, sum(1 for r in within if r <= tau) / count])
    points.append([tau_max, len(within) / count])
    area = sum(tau_max - max(r, 1.0) for r in within) / (tau_max - 1.0) / count
    return points, area


def profiles(user, boards: list[tuple[str, int]], *, view: str = "team", tau_max: float = TAU_MAX) -> dict:
    keys = [board_key(w, e) for w, e in boards]
    policies: dict[int, dict] = {}
    costs: dict[int, dict[str, float | None]] = {}
    summary = []
    for (workload, epochs), key in zip(boards, keys, strict=True):
        data = leaderboard.board(user, workload, epochs, view=view, rank="lrbench")
        for row in data["rows"]:
            policies.setdefault(
                row["policy"],
                {"policy": row["policy"], "policy_name": row["policy_name"], "kind": row["kind"], "team": row["team"]},
            )
            reached = row["reaches_target"] and row[COST]["mean"] is not None
            costs.setdefault(row["policy"], {})[key] = row[COST]["mean"] if reached else None
        board_costs = [c[key] for c in costs.values() if c.get(key) is not None]
        best = min(board_costs) if board_costs else None
        summary.append(
            {
                "key": key,
                "workload": workload,
                "epochs": epochs,
                "policies": len(data["rows"]),
                "best_cost": best,
                "best_policies": [p for p, c in costs.items() if best is not None and c.get(key) == best],
            }
        )
    best_of = {b["key"]: b["best_cost"] for b in summary}
    rows = []
    for policy, info in policies.items():
        mine = costs[policy]
        ratios = {
            key: (mine[key] / best_of[key] if mine.get(key) is not None and best_of[key] else None) for key in keys
        }
        points, area = profile_of(list(ratios.values()), tau_max)
        rows.append(
            {**info, "costs": {k: mine.get(k) for k in keys}, "ratios": ratios, "profile": points, "area": area}
        )
    rows.sort(key=lambda r: (-r["area"], r["policy_name"]))
    return {"boards": summary, "view": view, "tau_max": tau_max, "cost": COST, "policies": rows}


def flat_rows(data: dict) -> list[dict]:
    """One CSV row per policy: its area and its ratio and cost on each board."""
    flat = []
    for row in data["policies"]:
        item = {k: row[k] for k in ("policy", "policy_name", "kind", "team", "area")}
        item["tau_max"] = data["tau_max"]
        for board in data["boards"]:
            item[f"ratio {board['key']}"] = row["ratios"][board["key"]]
            item[f"{COST} {board['key']}"] = row["costs"][board["key"]]
        flat.append(item)
    return flat
