"""A real Ray cluster of one-CPU nodes on this machine, and the leaderboard's speed-up on it.

Each node is its own ``ray start`` process (the head with ``--head``, the others joining its
address), token-authenticated with a fresh token, as on a cluster of machines; the context
manager stops them with every process they started. The tests use it to prove that
``--backend ray --address`` gives the local pool's rows; run as a script it times one
leaderboard run on 1, then 2, ... nodes::

    python -m benchmarks.cluster --nodes 1 2 --suite quick --limit 4
"""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

RAY = Path(sys.executable).parent / "ray"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(*args: str, env: dict[str, str], cpus: int) -> subprocess.Popen:
    return subprocess.Popen([str(RAY), "start", "--block", f"--num-cpus={cpus}", "--node-ip-address=127.0.0.1", *args],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _wait_for_nodes(address: str, env: dict[str, str], n: int, timeout_s: float) -> None:
    probe = (f"import ray; ray.init(address={address!r}, log_to_driver=False); "
             "print(sum(node['Alive'] for node in ray.nodes()))")
    deadline, last = time.monotonic() + timeout_s, ""
    while time.monotonic() < deadline:
        out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True)
        if out.returncode == 0 and out.stdout.strip().splitlines()[-1:] == [str(n)]:
            return
        last = out.stderr[-2000:]
        time.sleep(2.0)
    raise TimeoutError(f"the Ray cluster at {address} did not reach {n} live nodes in {timeout_s:g} s: {last}")


@contextmanager
def local_cluster(nodes: int, cpus_per_node: int = 1, timeout_s: float = 120.0) -> Iterator[tuple[str, dict[str, str]]]:
    """``nodes`` Ray nodes on localhost; yields the head's address and the environment (token
    included) that a driver needs to join it."""
    if nodes < 1:
        raise ValueError(f"nodes must be >= 1, got {nodes}")
    if not RAY.exists():
        raise FileNotFoundError(f"no Ray command at {RAY}: pip install 'bessgym[dist]'")
    port = _free_port()
    address = f"127.0.0.1:{port}"
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "token",
           "RAY_AUTH_TOKEN": secrets.token_hex(32), "OMP_NUM_THREADS": "1"}
    temp = tempfile.mkdtemp(prefix="r", dir="/tmp")  # short: Ray's socket paths have a length limit
    started = [_start("--head", f"--port={port}", "--include-dashboard=false", f"--ray-client-server-port={_free_port()}",
                      f"--temp-dir={temp}", "--disable-usage-stats", env=env, cpus=cpus_per_node)]
    try:
        _wait_for_nodes(address, env, 1, timeout_s)
        for n in range(2, nodes + 1):
            started.append(_start(f"--address={address}", env=env, cpus=cpus_per_node))
            _wait_for_nodes(address, env, n, timeout_s)
        yield address, env
    finally:
        for process in reversed(started):
            process.terminate()
        for process in reversed(started):
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cluster",
                                     description="time one leaderboard run on a local Ray cluster of 1, 2, ... one-CPU nodes")
    parser.add_argument("--nodes", type=int, nargs="+", default=[1, 2], help="cluster sizes to time, in nodes (default 1 2)")
    parser.add_argument("--suite", default="quick", help="leaderboard suite (name or JSON file; default quick)")
    parser.add_argument("--limit", type=int, default=4, help="first N days of the suite's split (default 4)")
    parser.add_argument("--out", type=Path, default=Path("leaderboard/cluster"), help="folder for the runs' outputs")
    args = parser.parse_args(argv)
    seconds: dict[int, float] = {}
    for n in args.nodes:
        with local_cluster(n) as (address, env):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "benchmarks.leaderboard", "--suite", args.suite, "--limit", str(args.limit),
                            "--backend", "ray", "--address", address, "--overwrite", "--out", str(args.out / f"{n}-nodes")],
                           env=env, check=True, stdout=subprocess.DEVNULL)
            seconds[n] = time.perf_counter() - start
        print(f"{n} node(s): {seconds[n]:.1f} s, speed-up x{seconds[args.nodes[0]] / seconds[n]:.2f} "
              f"against {args.nodes[0]} node(s)")


if __name__ == "__main__":
    main()
