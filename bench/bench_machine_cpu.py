"""Where a submission's CPU goes on this machine: every process's share, per accepted job.

Distributed mode as it ships (``imagestudio up``: the gateway, its outbox relay in a child
process; PostgreSQL, RabbitMQ, Redis and the S3 server on loopback), one tenant, 8 connections,
a bounded count of social submissions: JSON naming an upload (P1a), then multipart with a 23 KB
JPEG (P1b, whose bytes go to the S3 server). Each process's user + system time
(``/proc/<pid>/stat``) before and after the run, and the machine's busy time (``/proc/stat``),
divided by the jobs accepted; the hello route's and the floor's (``floor_app.py``: one INSERT
committed) CPU per request in the same run, the floor's PostgreSQL share beside the gateway's.
h2load processes start and end inside the run: their share is this process's children's time. This is what bounds P1a's ratio on a given machine: even a gateway costing
nothing leaves the rest's CPU per job.

    .venv/bin/python bench/bench_machine_cpu.py [--count 3000] [--before 0015 [--rounds 3]]
    IMAGESTUDIO_BENCH_BASE=/tmp/base .venv/bin/python bench/bench_machine_cpu.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from collections import Counter
from contextlib import ExitStack

import psycopg
from _load import Request, run
from _services import (
    BIN,
    ROOT,
    children,
    distributed_env,
    free_port,
    process,
    processes,
    retire_queued_jobs,
    server_command,
)
from bench_submit import Gateway

TICK = os.sysconf("SC_CLK_TCK")
#: A tree holding the code before a change (``git archive <commit> shared services | tar -x -C
#: DIR``): with it, P1a alone, alternating rounds between this tree's gateway and the base's.
BASE = os.environ.get("IMAGESTUDIO_BENCH_BASE", "")


def _cpu_by_process() -> tuple[dict[tuple[str, str], float], float]:
    """Each process's CPU seconds so far, by (pid, command), and the machine's busy seconds."""
    per = {(pid, stat.comm): stat.cpu_seconds for pid, stat in processes().items()}
    total = open("/proc/stat").readline().split()[1:]
    busy = sum(int(x) for i, x in enumerate(total) if i not in (3, 4)) / TICK  # not idle, iowait
    return per, busy


def _children_cpu() -> float:
    """CPU seconds of this process's ended children: the h2load runs."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _backends(database_url: str | None) -> dict[str, str]:
    """The pids of the PostgreSQL backends connected to the bench's own database, named apart from
    the server's other processes (its WAL writer and checkpointer, and other databases' backends:
    other engineers' tests on a shared machine)."""
    if database_url is None:
        return {}
    name = database_url.rsplit("/", 1)[1]
    with psycopg.connect(database_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", (name,)
        ).fetchall()
    return {str(pid): "postgres (this database's backends)" for (pid,) in rows}


def _measure(
    req: Request, count: int, names: dict[str, str], database_url: str | None = None
) -> dict[str, object]:
    names = names | _backends(database_url)
    before, busy_before = _cpu_by_process()
    generator_before = _children_cpu()
    started = time.monotonic()
    result = run([req], connections=8, count=count).summary()
    after, busy_after = _cpu_by_process()
    generator = _children_cpu() - generator_before
    names = names | _backends(database_url)  # connections opened during the run too
    wall = time.monotonic() - started
    accepted = int(result["ok"])
    groups: Counter[str] = Counter()
    for key, seconds in after.items():
        spent = seconds - before.get(key, 0.0)
        if spent > 0:
            groups[names.get(key[0], key[1])] += spent
    busy = busy_after - busy_before
    return {
        "load": result,
        "machine_cores_busy": round(busy / wall, 2),
        "machine_cpu_ms_per_request": round(busy / accepted * 1000, 3),
        "cpu_ms_per_request": {
            **{name: round(s / accepted * 1000, 3) for name, s in groups.most_common(12) if s / wall >= 0.01},
            "load generator (h2load)": round(generator / accepted * 1000, 3),
        },
    }


def _gateway(
    stack: ExitStack, env: dict[str, str], tenant: str, code: dict[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], dict[str, str], dict[str, Request]]:
    """``imagestudio up`` on ``env``'s database, one tenant with an upload: its process, the names of
    its processes (the gateway, its relay child) and its submissions (P1a JSON, P1b multipart).
    ``code``: environment naming other code to run (``PYTHONPATH`` of a base tree)."""
    port = free_port()
    gateway = stack.enter_context(
        process(
            [str(BIN / "imagestudio"), "up", "--port", str(port)],
            env | (code or {}),
            f"http://127.0.0.1:{port}/healthz",
        )
    )
    names = {str(gateway.pid): "gateway"} | {pid: "outbox relay" for pid in children(gateway.pid)}
    gw = Gateway(env, f"http://127.0.0.1:{port}")
    _, key = gw.tenant(tenant)
    upload_id = gw.upload(key)
    assert upload_id is not None, "POST /uploads refused the photo"
    return (
        gateway,
        names,
        {"P1a_json": gw.json_submit(key, upload_id), "P1b_multipart": gw.multipart_submit(key)},
    )


def _downgrade(env: dict[str, str], revision: str) -> None:
    """``env``'s database migrated down to ``revision`` (the schema before a change)."""
    code = (
        "import sys; from alembic import command; from imagestudio.migrate import alembic_config;"
        " command.downgrade(alembic_config(sys.argv[1]), sys.argv[2])"
    )
    subprocess.run(
        [sys.executable, "-c", code, env["IMAGESTUDIO_DATABASE_URL"], revision],
        env={**os.environ, **env},
        check=True,
    )


def main(count: int = 3000, *, before: str = "", rounds: int = 3) -> dict[str, object]:
    """Hello's and the floor's CPU per request, and every process's CPU per accepted job of each
    shape (``count`` each); with ``before``, P1a alone, ``rounds`` times alternating between the
    head schema and the schema at revision ``before`` (two gateways of this tree)."""
    out: dict[str, object] = {"load_average_before": os.getloadavg()}
    with ExitStack() as stack:
        env = stack.enter_context(distributed_env())
        port = free_port()
        cmd = server_command("uvicorn", 1, "hello_app:app", port, factory=False, app_dir=ROOT / "bench")
        with process(cmd, env, f"http://127.0.0.1:{port}/hello") as hello:
            req = Request(f"http://127.0.0.1:{port}/hello")
            run([req], connections=8, count=500)
            out["hello"] = _measure(req, count * 4, {str(hello.pid): "hello app"})
        # The floor (one INSERT committed, 202): its PostgreSQL CPU per request beside the gateway's.
        port = free_port()
        cmd = server_command("uvicorn", 1, "floor_app:app", port, factory=False, app_dir=ROOT / "bench")
        with process(cmd, env, f"http://127.0.0.1:{port}/openapi.json") as floor:
            req = Request(
                f"http://127.0.0.1:{port}/jobs",
                {"Content-Type": "application/json"},
                json.dumps({"image": "upl_bench", "formats": ["instagram.story"]}).encode(),
            )
            run([req], connections=8, count=500)
            out["floor"] = _measure(
                req, count * 2, {str(floor.pid): "floor app"}, env["IMAGESTUDIO_DATABASE_URL"]
            )
        gateway, names, shapes = _gateway(stack, env, "bench-machine")
        if not before and not BASE:
            for name, req in shapes.items():
                run([req], connections=8, count=200)  # warm-up
                retire_queued_jobs(env)
                out[name] = _measure(req, count, names, env["IMAGESTUDIO_DATABASE_URL"])
            return out
        # The schema (or the code) before a change in the same rounds: a second gateway on a
        # database and vhost of its own, migrated down to ``before`` once it is up (``up`` migrates
        # to head), or running the base tree's code.
        env_before = stack.enter_context(distributed_env())
        if before:
            _, names_before, shapes_before = _gateway(stack, env_before, "bench-machine-before")
            _downgrade(env_before, before)
        else:
            code = {"PYTHONPATH": f"{BASE}/shared:{BASE}/services/gateway"}
            _, names_before, shapes_before = _gateway(stack, env_before, "bench-machine-base", code)
        pairs = {
            "head": (env, names, shapes["P1a_json"]),
            before or "base": (env_before, names_before, shapes_before["P1a_json"]),
        }
        for each_env, _, req in pairs.values():
            run([req], connections=8, count=200)  # warm-up
            retire_queued_jobs(each_env)
        for r in range(rounds):
            order = list(pairs) if r % 2 == 0 else list(reversed(pairs))
            for schema in order:
                each_env, each_names, req = pairs[schema]
                retire_queued_jobs(each_env)
                runs = out.setdefault(f"P1a_json, schema {schema}", [])
                assert isinstance(runs, list)
                runs.append(_measure(req, count, each_names, each_env["IMAGESTUDIO_DATABASE_URL"]))
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--before", default="", help="P1a also on the schema at this revision (e.g. 0015)")
    parser.add_argument("--rounds", type=int, default=3, help="with --before: alternating rounds")
    a = parser.parse_args()
    result = main(a.count, before=a.before, rounds=a.rounds)
    result["load_average_after"] = os.getloadavg()
    sys.stdout.write(json.dumps(result, indent=2) + "\n")
