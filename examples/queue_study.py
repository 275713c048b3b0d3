"""Queue a study through the REST API, wait for it, and print its leaderboard.

    python examples/queue_study.py --url http://localhost:8000 --user demo --password arena-demo

Needs only `requests`. Every call is documented at /api/docs/.
"""

from __future__ import annotations

import argparse
import time

import requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://localhost:8000")
    parser.add_argument("--user", default="demo")
    parser.add_argument("--password", default="arena-demo")
    parser.add_argument("--workload", default="digits-mlp")
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args()

    api = requests.Session()
    token = api.post(f"{args.url}/api/token/", data={"username": args.user, "password": args.password})
    token.raise_for_status()
    api.headers["Authorization"] = f"Token {token.json()['token']}"

    # Two policies of our own: a fixed LR and LRBench's triangle.
    policies = []
    for name, spec in [
        ("example: fixed 0.05", {"kind": "FIX", "k0": 0.05}),
        ("example: triangle", {"kind": "TRI", "k0": 0.01, "k1": 0.1, "l": 2}),
    ]:
        found = api.get(f"{args.url}/api/policies/", params={"limit": 500}).json()["results"]
        existing = next((p for p in found if p["name"] == name), None)
        if existing is None:
            response = api.post(f"{args.url}/api/policies/", json={"name": name, "spec": spec})
            response.raise_for_status()
            existing = response.json()
        policies.append(existing["id"])

    study = api.post(
        f"{args.url}/api/studies/",
        json={
            "name": "example study",
            "workload": args.workload,
            "policies": policies,
            "seeds": [0, 1, 2],
            "epochs": args.epochs,
        },
    )
    if study.status_code != 201:
        raise SystemExit(f"could not queue the study: {study.json()}")
    study_id = study.json()["id"]
    print(f"queued study {study_id}: {len(policies)} policies × 3 seeds")

    while True:
        progress = api.get(f"{args.url}/api/studies/{study_id}/").json()["progress"]
        print(f"  {progress['finished']} of {progress['total']} runs finished", flush=True)
        if progress["finished"] == progress["total"]:
            break
        time.sleep(2)

    board = api.get(
        f"{args.url}/api/leaderboard/", params={"workload": args.workload, "epochs": args.epochs, "rank": "lrbench"}
    ).json()
    print(f"\nleaderboard: {args.workload}, {args.epochs} epochs (LRBench rule)")
    for row in board["rows"]:
        acc = row["final_acc"]
        std = f" ± {acc['std']:.4f}" if acc["std"] is not None else ""
        print(f"{row['rank']:>3}. {row['policy_name']:<28} {acc['mean']:.4f}{std}  n={row['n']}")


if __name__ == "__main__":
    main()
