"""Scale-out, proven: a real two-node Ray cluster on this machine (``ray start --head`` and a second
``ray start --address``, each node its own raylet with one CPU) runs the leaderboard with
``--backend ray --address`` and gives the rows the local process pool gives (see
:mod:`benchmarks.cluster`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from benchmarks.cluster import local_cluster
from bessgym.policies import FollowDA

pytest.importorskip("ray")
pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
TIMINGS = ["bid_seconds", "decision_ms_p50", "decision_ms_p95"]
"""Columns measured in seconds on whichever machine ran the day; everything else must agree."""


class NodeTaggedFollow(FollowDA):
    """Follows the DA schedule; on a Ray worker it also leaves a file named after its node."""

    def __init__(self, folder: str) -> None:
        self.folder = Path(folder)

    def reset(self, episode) -> None:
        import ray

        if ray.is_initialized():
            (self.folder / ray.get_runtime_context().get_node_id()).touch()
            time.sleep(0.5)  # long enough that the two nodes' days overlap
        super().reset(episode)


class CrashOnRay(FollowDA):
    """Follows the DA schedule, except on a Ray worker, which it kills."""

    def reset(self, episode) -> None:
        import ray

        if ray.is_initialized():
            os._exit(3)
        super().reset(episode)


@pytest.fixture()
def two_node_cluster():
    with local_cluster(2) as (address, env):
        yield address, env


def test_a_two_node_ray_cluster_gives_the_local_pools_rows(two_node_cluster, tmp_path):
    address, env = two_node_cluster
    tags = tmp_path / "nodes"
    tags.mkdir()
    suite = tmp_path / "suite.json"
    suite.write_text(json.dumps({
        "name": "cluster", "config": "caiso-sp15", "split": "test", "seeds": [0, 1], "time_budget_s": 120,
        "entries": [
            {"name": "forecast-lp+mpc", "da_bidder": "baselines.reference:ForecastLP", "rt_policy": "baselines.mpc:MPCPolicy"},
            {"name": "robust+tagged", "da_bidder": "baselines.robust:RobustDA",
             "rt_policy": f"tests.test_ray_cluster:NodeTaggedFollow?folder={tags}"},
            {"name": "crash", "da_bidder": "threshold", "rt_policy": "tests.test_ray_cluster:CrashOnRay"},
        ]}))
    common = [sys.executable, "-m", "benchmarks.leaderboard", "--suite", str(suite), "--limit", "2"]
    on_ray = subprocess.run([*common, "--backend", "ray", "--address", address, "--out", str(tmp_path / "ray")],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert on_ray.returncode == 0, on_ray.stderr[-3000:]
    local = subprocess.run([*common, "--workers", "2", "--out", str(tmp_path / "local")],
                           cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert local.returncode == 0, local.stderr[-3000:]

    assert len(list(tags.iterdir())) == 2, "the days did not run on both nodes"
    crashed = pd.read_csv(tmp_path / "ray" / "episodes.csv").query("entry == 'crash'")
    assert len(crashed) == 4 and crashed["error"].str.startswith("WorkerDied").all()  # counted, the run went on
    for name, keys in (("episodes.csv", ["entry", "scenario_id", "seed"]), ("oracle.csv", ["reference", "scenario_id", "seed"])):
        ray_rows, local_rows = (pd.read_csv(tmp_path / run / name).query(f"{keys[0]} != 'crash'")
                                .sort_values(keys).reset_index(drop=True) for run in ("ray", "local"))
        assert len(ray_rows) == len(local_rows) > 0 and (ray_rows["status"] == "ok").all()
        pd.testing.assert_frame_equal(ray_rows.drop(columns=TIMINGS, errors="ignore"),
                                      local_rows.drop(columns=TIMINGS, errors="ignore"), check_exact=True,
                                      check_dtype=False)  # an error row leaves NaN in a column: floats
