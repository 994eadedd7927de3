"""A sampling profile of the gateway's submit path (or of its outbox relay) under load, by part.

Distributed mode (PostgreSQL, RabbitMQ, S3 server on loopback): ``imagestudio up`` serves the
gateway, h2load sends social multipart submissions of a 23 KB JPEG over 8 connections for a
bounded time, and ``py-spy record --gil`` samples the gateway process meanwhile (only samples
where a thread holds the GIL: the Python CPU time that serialises requests). The summary, not the
raw profile, is written to ``bench/profiles/<label>.txt``. Before the profile, an unprofiled run
bounded by a request count measures the gateway's CPU time per accepted job (user + system time of
all its threads from ``/proc/<pid>/stat``): a figure other processes on the machine disturb far less
than requests per second.

``--process relay`` samples the outbox relay (``imagestudio up``'s child process) instead, and
its CPU per accepted job, summarised by the relay's own parts.

    .venv/bin/python bench/profile_gateway.py --label submit-before --seconds 20
    .venv/bin/python bench/profile_gateway.py --label relay-before --process relay --shape json
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from pathlib import Path

import httpx
from _load import Request, multipart, run
from _services import (
    BIN,
    ROOT,
    create_tenant_key,
    distributed_env,
    free_port,
    proc_stat,
    process,
    raise_limits,
    retire_queued_jobs,
)
from bench_submit import photo

#: Parts of the path, each a regular expression on a py-spy frame ("function (file:line)").
#: Each sample goes to the first part, in this order, that one of its frames matches (exclusive
#: shares adding up to 100 %): the route's own work first, then the frameworks around it.
PARTS: list[tuple[str, str]] = [
    ("JobService.submit", r"JobService\.submit\w* \(.*jobs/service\.py"),
    ("outbox relay thread", r"OutboxRelay|publish_pending \("),
    ("outbox notifier (NOTIFY after commits: thread or loop)", r"CommitNotifier|LoopNotifier"),
    ("auth (API key -> tenant)", r"get_principal \(|authenticate \(.*tenants/service"),
    ("admission + rate limit", r"gateway/admission\.py|imagestudio/(ratelimits|idempotency)/"),
    ("multipart parse", r"starlette/formparsers\.py|python_multipart|multipart/multipart\.py"),
    ("image inspect (decode/validate upload)", r"gateway/uploads\.py|imagestudio/imaging/"),
    ("response (JobRead, 202 body)", r"to_read \(|answer \(.*studio_options|serialize_response \("),
    ("rest of the route (params, formats)", r"gateway/routes/"),
    ("session open/close (get_session)", r"get_session \(|session_scope \("),
    ("logging (structlog)", r"structlog/"),
    (
        "FastAPI + Starlette + middleware",
        r"fastapi/|starlette/|anyio/|imagestudio/telemetry/|gateway/app\.py|gateway/lean_submit\.py",
    ),
    ("ASGI server + asyncio loop", r"uvicorn/|granian/|h11|httptools|uvloop|asyncio/"),
]
#: The relay's parts (``--process relay``), in the same first-match order.
RELAY_PARTS: list[tuple[str, str]] = [
    (
        "wait for confirms (pika I/O loop)",
        r"_wait \(.*outbox/publishers\.py|process_data_events \(|pump \(.*outbox/publishers\.py",
    ),
    (
        "publish (pika frames, message bodies)",
        r"(publish|send) \(.*outbox/publishers\.py|basic_publish \(",
    ),
    ("claim the batch (SQL round trip, rows decoded)", r"_claim|execute \(.*(sqlalchemy|psycopg)/"),
    ("commit / rollback", r"commit \(|rollback \(|settle_batch \(|_settle \("),
    ("session / connection open and close", r"session_scope \(|__exit__ \(.*sqlalchemy|_checkout|_checkin"),
    ("build dramatiq messages", r"<listcomp> \(.*outbox/service\.py|Message\.|dataclasses"),
    (
        "wake: listen, notifications, lead hand-off",
        r"_listen_loop \(|notifies \(|_lead_one_batch \(|wait \(.*threading|Wakeups\.",
    ),
    ("logging (structlog)", r"structlog/"),
]
#: Inside JobService.submit (inclusive shares of all samples; they may overlap, e.g. commit).
SUBMIT_PARTS: list[tuple[str, str]] = [
    ("tier check (check_submission, limits_of, tier_of)", r"check_submission \(|limits_of \(|tier_of \("),
    ("credit balance + reserve (tenant row lock, monthly grant)", r"credits/(service|repository)\.py"),
    ("concurrency count (active_count)", r"active_count \("),
    ("webhook subscribers / stage job.queued", r"webhooks/staging\.py"),
    ("job event row", r"add_event \("),
    ("outbox insert", r"add \(.*imagestudio/outbox/service\.py"),
    ("object store put (S3)", r"imagestudio/storage/"),
    ("session.commit", r"commit \(.*sqlalchemy/orm/session\.py"),
    ("outbox wake (after commit)", r"_notify_after_commit \(|_wake_after_commit \("),
    ("the one submission statement (+ COMMIT)", r"insert_submission_(postgres|async) \("),
]
#: Libraries across the whole process (inclusive).
CROSS: list[tuple[str, str]] = [
    ("SQLAlchemy (anywhere)", r"sqlalchemy/"),
    ("psycopg driver (anywhere)", r"psycopg/"),
    ("dramatiq/pika publish (anywhere)", r"dramatiq/|pika/"),
]


#: Requests of the unprofiled run that measures CPU per accepted job.
CPU_RUN_REQUESTS = 1200


def relay_pid(gateway_pid: int) -> int:
    """The outbox relay: ``imagestudio up``'s child process (on PostgreSQL and RabbitMQ)."""
    import os

    children = [int(p) for p in os.listdir("/proc") if p.isdigit() and _ppid(p) == gateway_pid]
    assert len(children) == 1, f"expected the relay as the gateway's one child, found {children}"
    return children[0]


def _ppid(pid: str) -> int | None:
    try:
        return proc_stat(pid).ppid
    except OSError:  # gone meanwhile
        return None


def cpu_per_job(pid: int, req: Request, *, connections: int, count: int) -> dict[str, float]:
    """The process's CPU milliseconds per accepted job over a load run bounded by ``count`` requests."""
    before = proc_stat(pid).cpu_seconds
    result = run([req], connections=connections, count=count)
    used = proc_stat(pid).cpu_seconds - before
    return {
        "accepted": result.ok,
        "jobs_per_second": round(result.ok_per_second, 1),
        "cpu_seconds": round(used, 2),
        "cpu_ms_per_job": round(1000 * used / max(result.ok, 1), 3),
        "cpu_share_of_a_core": round(used / result.seconds, 2) if result.seconds else 0.0,
    }


def summarise(
    raw: str,
    *,
    title: str,
    command: str,
    load: str,
    cpu: dict[str, float] | None = None,
    parts: list[tuple[str, str]] = PARTS,
    who: str = "gateway",
) -> str:
    """A text summary of py-spy's collapsed stacks: shares by group, top functions self and total."""
    stacks: list[tuple[list[str], int]] = []
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks.append((stack.split(";"), int(count)))
    total = sum(n for _, n in stacks) or 1
    lines = [title, "", f"command: {command}", f"load: {load}"]
    if cpu is not None:
        lines.append(f"{who} CPU per accepted job (unprofiled run of {CPU_RUN_REQUESTS} requests): {cpu}")
    lines += [f"GIL-held samples: {total}", ""]
    compiled = [(label, re.compile(rx)) for label, rx in parts]
    exclusive: Counter[str] = Counter()
    for frames, n in stacks:
        part = next((label for label, rx in compiled if any(rx.search(f) for f in frames)), "other")
        exclusive[part] += n
    lines.append("share of samples by part of the path (exclusive: each sample to the first part matching)")
    for label in [*(label for label, _ in parts), "other"]:
        lines.append(f"  {100 * exclusive[label] / total:5.1f} %  {label}")

    def inclusive_rows(groups: list[tuple[str, str]]) -> list[str]:
        rows = []
        for label, pattern in groups:
            rx = re.compile(pattern)
            hits = sum(n for frames, n in stacks if any(rx.search(f) for f in frames))
            rows.append(f"  {100 * hits / total:5.1f} %  {label}")
        return rows

    if parts is PARTS:
        lines += [
            "",
            "inside JobService.submit (inclusive, share of all samples)",
            *inclusive_rows(SUBMIT_PARTS),
        ]
    lines += ["", "libraries (inclusive)", *inclusive_rows(CROSS)]
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for frames, n in stacks:
        own[_short(frames[-1])] += n
        for name in {_short(f) for f in frames}:
            inclusive[name] += n
    lines += ["", "top functions by own samples"]
    lines += [f"  {100 * n / total:5.1f} %  {name}" for name, n in own.most_common(15)]
    lines += ["", "top project functions by inclusive samples"]
    project = [(k, v) for k, v in inclusive.items() if "imagestudio/" in k or "gateway/" in k]
    lines += [
        f"  {100 * n / total:5.1f} %  {name}" for name, n in sorted(project, key=lambda kv: -kv[1])[:20]
    ]
    return "\n".join(lines) + "\n"


def _short(frame: str) -> str:
    """``func (/long/path/site-packages/pkg/mod.py:12)`` -> ``func (pkg/mod.py)``."""
    m = re.match(r"(.*) \((.*?):\d+\)$", frame)
    if not m:
        return frame
    path = m.group(2)
    for marker in ("site-packages/", "/shared/", "/services/gateway/", "/lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{m.group(1)} ({path})"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--label", default="submit-before")
    parser.add_argument("--seconds", type=int, default=20, help="profile length (the load runs 4 s longer)")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument(
        "--shape", choices=["multipart", "json"], default="multipart", help="json: name an upload id"
    )
    parser.add_argument("--raw", type=Path, help="also keep py-spy's collapsed stacks at this path")
    parser.add_argument(
        "--process", choices=["gateway", "relay"], default="gateway", help="relay: the outbox relay's child"
    )
    args = parser.parse_args()
    py_spy = shutil.which("py-spy") or str(BIN / "py-spy")
    image = photo()
    port = free_port()
    with distributed_env() as env:
        with process(
            [str(BIN / "imagestudio"), "up", "--port", str(port)], env, f"http://127.0.0.1:{port}/healthz"
        ) as gateway:
            tenant, key = create_tenant_key(env, "bench-profile")
            note = raise_limits(env, tenant)
            if args.shape == "json":
                uploaded = httpx.post(
                    f"http://127.0.0.1:{port}/api/image-studio/uploads",
                    headers={"Authorization": f"Bearer {key}"},
                    files={"file": ("p.jpg", image, "image/jpeg")},
                )
                uploaded.raise_for_status()
                body = json.dumps({"image": uploaded.json()["id"], "formats": ["instagram.story"]}).encode()
                ctype = "application/json"
            else:
                body, ctype = multipart(
                    {"formats": "instagram.story"}, {"image": ("p.jpg", image, "image/jpeg")}
                )
            req = Request(
                f"http://127.0.0.1:{port}/api/image-studio/social/optimize",
                {"Authorization": f"Bearer {key}", "Content-Type": ctype},
                body,
            )
            run([req], connections=args.connections, count=100)  # warm-up
            retire_queued_jobs(env)  # stay under the tier's concurrency limit when no override exists
            sampled = gateway.pid if args.process == "gateway" else relay_pid(gateway.pid)
            cpu = cpu_per_job(sampled, req, connections=args.connections, count=CPU_RUN_REQUESTS)
            retire_queued_jobs(env)
            load: dict[str, object] = {}
            driver = threading.Thread(
                target=lambda: load.update(
                    run([req], connections=args.connections, seconds=args.seconds + 4).summary()
                )
            )
            driver.start()
            with tempfile.TemporaryDirectory() as tmp:
                out = Path(tmp) / "profile.txt"
                command = [py_spy, "record", "--gil", "-r", "100", "-d", str(args.seconds)]
                command += ["--format", "raw", "-o", str(out), "-p", str(sampled)]
                subprocess.run(command, check=True, capture_output=True, timeout=args.seconds + 60)
                raw = out.read_text()
                if args.raw is not None:
                    args.raw.write_text(raw)
            driver.join(args.seconds + 120)
    shown = (
        " ".join(Path(c).name if c == py_spy else c for c in command)
        .replace(str(out), "profile.txt")
        .replace(str(sampled), f"<{args.process} pid>")
    )
    shape = "JSON naming an upload id" if args.shape == "json" else f"multipart {len(image)} B JPEG"
    described = (
        f"h2load --h1 -c {args.connections} -D {args.seconds + 4}: POST /api/image-studio/social/optimize, "
        f"{shape}, formats=instagram.story, one enterprise tenant; result {load}"
        + (f"; {note}" if note else "")
    )
    text = summarise(
        raw,
        title=f"{'Gateway submit path' if args.process == 'gateway' else 'Outbox relay'} profile: {args.label}",
        command=shown,
        load=described,
        cpu=cpu,
        parts=PARTS if args.process == "gateway" else RELAY_PARTS,
        who=args.process,
    )
    dest = ROOT / "bench" / "profiles" / f"{args.label}.txt"
    dest.parent.mkdir(exist_ok=True)
    dest.write_text(text)
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
