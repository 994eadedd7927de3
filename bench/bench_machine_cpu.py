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

import httpx
from _load import Request, multipart, run
from _services import (
    BIN,
    ROOT,
    create_tenant_key,
    distributed_env,
    free_port,
    process,
    raise_limits,
    retire_queued_jobs,
    server_command,
)
from bench_submit import photo

TICK = os.sysconf("SC_CLK_TCK")


def _cpu_by_process() -> tuple[dict[tuple[str, str], float], float]:
    """Each process's CPU seconds so far, by (pid, command), and the machine's busy seconds."""
    per: dict[tuple[str, str], float] = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            stat = open(f"/proc/{pid}/stat").read()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        per[(pid, comm)] = (int(fields[11]) + int(fields[12])) / TICK
    total = open("/proc/stat").readline().split()[1:]
    busy = sum(int(x) for i, x in enumerate(total) if i not in (3, 4)) / TICK  # not idle, iowait
    return per, busy


def _children_cpu() -> float:
    """CPU seconds of this process's ended children: the h2load runs."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _children(parent: int) -> set[str]:
    found = set()
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                stat = open(f"/proc/{pid}/stat").read()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2 :].split()[1]) == parent:
                found.add(pid)
    return found


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
    """Hello's CPU per request and every process's CPU per accepted JSON job (``count`` submissions)."""
    out: dict[str, object] = {}
    with distributed_env() as env:
        port = free_port()
        cmd = server_command("uvicorn", 1, "hello_app:app", port, factory=False, app_dir=ROOT / "bench")
        with process(cmd, env, f"http://127.0.0.1:{port}/hello") as hello:
            req = Request(f"http://127.0.0.1:{port}/hello")
            run([req], connections=8, count=500)
            out["hello"] = _measure(req, count * 4, {str(hello.pid): "hello app"})
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        with process(
            [str(BIN / "imagestudio"), "up", "--port", str(port)], env, f"{base}/healthz"
        ) as gateway:
            names = {str(gateway.pid): "gateway"} | {pid: "outbox relay" for pid in _children(gateway.pid)}
            tenant, key = create_tenant_key(env, "bench-machine")
            raise_limits(env, tenant)
            auth = {"Authorization": f"Bearer {key}"}
            uploaded = httpx.post(
                f"{base}/api/image-studio/uploads",
                headers=auth,
                files={"file": ("p.jpg", photo(), "image/jpeg")},
            )
            uploaded.raise_for_status()
            body = json.dumps({"image": uploaded.json()["id"], "formats": ["instagram.story"]}).encode()
            url = f"{base}/api/image-studio/social/optimize"
            form, form_type = multipart(
                {"formats": "instagram.story"}, {"image": ("p.jpg", photo(), "image/jpeg")}
            )
            shapes = {
                "P1a_json": Request(url, {**auth, "Content-Type": "application/json"}, body),
                "P1b_multipart": Request(url, {**auth, "Content-Type": form_type}, form),
            }
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
