"""The outbox relay alone: its CPU per message and commit → published latency at set rates.

Distributed mode (PostgreSQL, RabbitMQ on loopback). ``imagestudio relay --no-sweeper`` (what
``imagestudio up`` runs beside the gateway) publishes the outbox while ``pgbench`` commits rows
into it at a constant rate, each transaction one row and its ``NOTIFY``, as a submission's does:
the relay's CPU time (``/proc/<pid>/stat``, all threads) divided by the rows it published, and
``published_at - created_at`` (the claim's time less the row's insert, the commit between them).
pgbench, not Python, stages the rows, so the rate holds on a busy machine; every run is bounded
in count. Without the gateway in the way, this is the relay's cost as the rate grows.

With ``--base DIR`` (or ``IMAGESTUDIO_BENCH_BASE``: a tree holding the code before, e.g. ``git
archive main shared | tar -x -C DIR``), the relay of ``DIR/shared`` (first on ``PYTHONPATH``) and
this tree's relay take turns on the same database and vhost, ``--rounds`` times, the order
rotating each round: before and after measured minutes apart on the same loaded machine. Both
sides read the environment's settings: a base from before session 6 runs the lanes unless
``IMAGESTUDIO_OUTBOX_RELAY_PIPELINED=true`` is set (the pipeline is the default since).
``--profile LABEL`` also samples each relay with ``py-spy record --gil`` for ``--profile-seconds``
at ``--profile-rate`` rows/s and writes the summary to ``bench/profiles/LABEL-<side>.txt``.

    .venv/bin/python bench/bench_relay.py [--rates 100 200 500 1000] [--seconds 8]
    IMAGESTUDIO_BENCH_BASE=/tmp/base .venv/bin/python bench/bench_relay.py --rounds 2 --profile relay-alone
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg
from _services import BIN, ROOT, cli, distributed_env, proc_stat

BASE = os.environ.get("IMAGESTUDIO_BENCH_BASE", "")

#: One submission's outbox work: a row and the notification, committed together.
STAGE = """\\set n random(1, 1000000000)
BEGIN;
INSERT INTO outbox (message_id, queue_name, actor_name, kwargs, options, created_at, attempts)
  VALUES (gen_random_uuid()::text, 'social', 'social.run_job', json_build_object('job_id', 'bench-' || :n),
          '{}', clock_timestamp(), 0);
SELECT pg_notify('imagestudio_outbox', '');
COMMIT;
"""
CLIENTS = 8


def _pending(conn: psycopg.Connection[Any]) -> int:
    return int(conn.execute("SELECT count(*) FROM outbox WHERE published_at IS NULL").fetchone()[0])  # type: ignore[index]


def _wait_published(conn: psycopg.Connection[Any], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while _pending(conn) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _pending(conn), "the relay left rows pending"


def _system_seconds(pid: int) -> float:
    """The process's CPU seconds in the kernel (``stime``, all threads) from ``/proc/<pid>/stat``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return int(fields[12]) / os.sysconf("SC_CLK_TCK")


def _stage(env: dict[str, str], script: Path, rate: float, count: int) -> None:
    per_client = max(1, count // CLIENTS)
    subprocess.run(
        ["pgbench", "-n", "-M", "prepared", "-c", str(CLIENTS), "-j", "2", "-R", str(rate)]
        + ["-t", str(per_client), "-f", str(script), env["IMAGESTUDIO_DATABASE_URL"]],
        check=True,
        capture_output=True,
        timeout=count / rate + 120,
    )


def measure(env: dict[str, str], relay: int, script: Path, rate: float, seconds: float) -> dict[str, Any]:
    """One rate: the relay's CPU per row and the rows' commit → published latency."""
    count = int(rate * seconds)
    with psycopg.connect(env["IMAGESTUDIO_DATABASE_URL"], autocommit=True) as conn:
        conn.execute("DELETE FROM outbox")
        before, sys_before = proc_stat(relay).cpu_seconds, _system_seconds(relay)
        started = time.monotonic()
        _stage(env, script, rate, count)
        _wait_published(conn, 60)
        wall = time.monotonic() - started
        used = proc_stat(relay).cpu_seconds - before
        system = _system_seconds(relay) - sys_before
        rows, lat = conn.execute(
            "SELECT count(*), array_agg(EXTRACT(EPOCH FROM (published_at - created_at)) * 1000 "
            "ORDER BY published_at - created_at) FROM outbox"
        ).fetchone()  # type: ignore[misc]
        batches = conn.execute("SELECT count(DISTINCT published_at) FROM outbox").fetchone()[0]  # type: ignore[index]
    lat = [float(x) for x in lat]
    return {
        "rate": rate,
        "rows": rows,
        "achieved_rows_per_second": round(rows / wall, 1),
        "relay_cpu_ms_per_row": round(1000 * used / rows, 3),
        "of_it_in_the_kernel": round(system / used, 2) if used else 0.0,
        "rows_per_batch": round(rows / batches, 2),
        "commit_to_published_ms": {
            "median": round(statistics.median(lat), 2),
            "p99": round(lat[int(0.99 * (len(lat) - 1))], 2),
        },
    }


def _start_relay(env: dict[str, str], base: str) -> subprocess.Popen[bytes]:
    extra = {"PYTHONPATH": f"{base}/shared"} if base else {}
    return subprocess.Popen(
        [str(BIN / "imagestudio"), "relay", "--no-sweeper"],
        env={**os.environ, **env, **extra},
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _profile(env: dict[str, str], pid: int, script: Path, rate: float, seconds: float, label: str) -> str:
    """py-spy's summary of the relay ``pid`` while pgbench stages ``rate`` rows/s."""
    import shutil
    import threading

    from profile_gateway import RELAY_PARTS, summarise

    py_spy = shutil.which("py-spy") or str(BIN / "py-spy")
    result: dict[str, Any] = {}
    load = threading.Thread(
        target=lambda: result.update(measure(env, pid, script, rate, seconds + 2)), daemon=True
    )
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "profile.txt"
        command = [py_spy, "record", "--gil", "-r", "100", "-d", str(int(seconds))]
        command += ["--format", "raw", "-o", str(out), "-p", str(pid)]
        load.start()
        time.sleep(1)
        subprocess.run(command, check=True, capture_output=True, timeout=seconds + 60)
        raw = out.read_text()
    load.join(seconds + 180)
    text = summarise(
        raw,
        title=f"Outbox relay profile: {label}",
        command=f"py-spy record --gil -r 100 -d {int(seconds)} --format raw -p <relay pid>",
        load=f"bench_relay.py: pgbench stages {rate:g} outbox rows/s (8 clients, one row + NOTIFY each); "
        f"result {result}",
        parts=RELAY_PARTS,
        who="relay",
    )
    dest = ROOT / "bench" / "profiles" / f"{label}.txt"
    dest.parent.mkdir(exist_ok=True)
    dest.write_text(text)
    return text


def main(
    rates: list[float],
    seconds: float,
    *,
    base: str = "",
    rounds: int = 1,
    profile: str = "",
    profile_rate: float = 250,
    profile_seconds: float = 15,
) -> dict[str, Any]:
    sides = ["before", "after"] if base else ["after"]
    out: dict[str, Any] = {side: {} for side in sides}
    with distributed_env() as env, tempfile.TemporaryDirectory() as tmp:
        assert cli(env, "migrate").returncode == 0
        script = Path(tmp) / "stage.sql"
        script.write_text(STAGE)
        for round_ in range(rounds):
            for side in sides[round_ % len(sides) :] + sides[: round_ % len(sides)]:
                relay = _start_relay(env, base if side == "before" else "")
                try:
                    with psycopg.connect(env["IMAGESTUDIO_DATABASE_URL"], autocommit=True) as conn:
                        _stage(env, script, 50, 50)  # warm-up: started, connected, statements prepared
                        _wait_published(conn, 120)
                    for rate in rates:
                        run = measure(env, relay.pid, script, rate, seconds)
                        out[side].setdefault(f"{rate:g}/s", []).append(run)
                    if profile and round_ == 0:
                        label = f"{profile}-{side}"
                        _profile(env, relay.pid, script, profile_rate, profile_seconds, label)
                        out[side]["profile"] = f"bench/profiles/{label}.txt"
                finally:
                    relay.terminate()
                    relay.wait(30)
    for side in sides:  # the median run of each rate, by CPU per row
        for key, runs in out[side].items():
            if isinstance(runs, list):
                ranked = sorted(runs, key=lambda r: r["relay_cpu_ms_per_row"])
                out[side][key] = {**ranked[len(ranked) // 2], "runs": runs} if len(runs) > 1 else runs[0]
    return out if base else out["after"]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rates", type=float, nargs="+", default=[100, 200, 500, 1000])
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--base", default=BASE, help="a tree with the code before (its shared/)")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--profile", default="", help="label: py-spy each relay, summary in bench/profiles/")
    parser.add_argument("--profile-rate", type=float, default=250)
    parser.add_argument("--profile-seconds", type=float, default=15)
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args()
    options = ("base", "rounds", "profile", "profile_rate", "profile_seconds")
    result = main(args.rates, args.seconds, **{name: getattr(args, name) for name in options})
    text = json.dumps(result, indent=2) + "\n"
    if args.json is not None:
        args.json.write_text(text)
    sys.stdout.write(text)
