"""The outbox relay alone: its CPU per message and commit → published latency at set rates.

Distributed mode (PostgreSQL, RabbitMQ on loopback). ``imagestudio relay --no-sweeper`` (what
``imagestudio up`` runs beside the gateway) publishes the outbox while ``pgbench`` commits rows
into it at a constant rate, each transaction one row and its ``NOTIFY``, as a submission's does:
the relay's CPU time (``/proc/<pid>/stat``, all threads) divided by the rows it published, and
``published_at - created_at`` (the claim's time less the row's insert, the commit between them).
pgbench, not Python, stages the rows, so the rate holds on a busy machine; every run is bounded
in count. Without the gateway in the way, this is the relay's cost as the rate grows.

    .venv/bin/python bench/bench_relay.py [--rates 100 200 500 1000] [--seconds 8]
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
        before = proc_stat(relay).cpu_seconds
        started = time.monotonic()
        _stage(env, script, rate, count)
        _wait_published(conn, 60)
        wall = time.monotonic() - started
        used = proc_stat(relay).cpu_seconds - before
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
        "rows_per_batch": round(rows / batches, 2),
        "commit_to_published_ms": {
            "median": round(statistics.median(lat), 2),
            "p99": round(lat[int(0.99 * (len(lat) - 1))], 2),
        },
    }


def main(rates: list[float], seconds: float) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with distributed_env() as env, tempfile.TemporaryDirectory() as tmp:
        assert cli(env, "migrate").returncode == 0
        script = Path(tmp) / "stage.sql"
        script.write_text(STAGE)
        relay = subprocess.Popen(
            [str(BIN / "imagestudio"), "relay", "--no-sweeper"],
            env={**os.environ, **env},
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            with psycopg.connect(env["IMAGESTUDIO_DATABASE_URL"], autocommit=True) as conn:
                _stage(env, script, 50, 50)  # warm-up: started, connected, statements prepared
                _wait_published(conn, 120)
            for rate in rates:
                out[f"{rate:g}/s"] = measure(env, relay.pid, script, rate, seconds)
        finally:
            relay.terminate()
            relay.wait(30)
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rates", type=float, nargs="+", default=[100, 200, 500, 1000])
    parser.add_argument("--seconds", type=float, default=8)
    args = parser.parse_args()
    sys.stdout.write(json.dumps(main(args.rates, args.seconds), indent=2) + "\n")
