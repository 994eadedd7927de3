"""Where a submission's CPU goes on this machine: every process's share, per accepted job.

Distributed mode as it ships (``imagestudio up``: the gateway, its outbox relay in a child
process; PostgreSQL, RabbitMQ, Redis and the S3 server on loopback), one tenant, 8 connections,
a bounded count of social submissions: JSON naming an upload (P1a), then multipart with a 23 KB
JPEG (P1b, whose bytes go to the S3 server). Each process's user + system time
(``/proc/<pid>/stat``) before and after the run, and the machine's busy time (``/proc/stat``),
divided by the jobs accepted; the hello route's CPU per request in the same run for the ratio.
h2load processes start and end inside the run: their share is this process's children's time. This is what bounds P1a's ratio on a given machine: even a gateway costing
nothing leaves the rest's CPU per job.

    .venv/bin/python bench/bench_machine_cpu.py [--count 3000]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from collections import Counter

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


def _measure(req: Request, count: int, names: dict[str, str]) -> dict[str, object]:
    before, busy_before = _cpu_by_process()
    generator_before = _children_cpu()
    started = time.monotonic()
    result = run([req], connections=8, count=count).summary()
    after, busy_after = _cpu_by_process()
    generator = _children_cpu() - generator_before
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
            **{name: round(s / accepted * 1000, 3) for name, s in groups.most_common(8) if s / wall >= 0.01},
            "load generator (h2load)": round(generator / accepted * 1000, 3),
        },
    }


def main(count: int = 3000) -> dict[str, object]:
    """Hello's CPU per request, and every process's CPU per accepted job of each shape (``count`` each)."""
    out: dict[str, object] = {}
    with distributed_env() as env:
        port = free_port()
        cmd = server_command("uvicorn", 1, "hello_app:app", port, factory=False, app_dir=ROOT / "bench")
        with process(cmd, env, f"http://127.0.0.1:{port}/hello") as hello:
            req = Request(f"http://127.0.0.1:{port}/hello")
            run([req], connections=8, count=500)
            out["hello"] = _measure(req, count * 4, {str(hello.pid): "hello app"})
        port = free_port()
        with process(
            [str(BIN / "imagestudio"), "up", "--port", str(port)], env, f"http://127.0.0.1:{port}/healthz"
        ) as gateway:
            names = {str(gateway.pid): "gateway"} | {pid: "outbox relay" for pid in children(gateway.pid)}
            gw = Gateway(env, f"http://127.0.0.1:{port}")
            _, key = gw.tenant("bench-machine")
            upload_id = gw.upload(key)
            assert upload_id is not None, "POST /uploads refused the photo"
            shapes = {"P1a_json": gw.json_submit(key, upload_id), "P1b_multipart": gw.multipart_submit(key)}
            for name, req in shapes.items():
                run([req], connections=8, count=200)  # warm-up
                retire_queued_jobs(env)
                out[name] = _measure(req, count, names)
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=3000)
    sys.stdout.write(json.dumps(main(parser.parse_args().count), indent=2) + "\n")
