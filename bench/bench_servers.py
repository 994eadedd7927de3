"""The ASGI server choice: hello route and the gateway's social submission under each server setup.

uvicorn and granian, 1 and 2 worker processes, on this machine, in one run, distributed mode
(PostgreSQL, RabbitMQ, S3 server on loopback). Each setup serves the bare FastAPI hello route, then
the gateway (each gateway process runs its own outbox relay; they share the outbox with SKIP LOCKED),
under the same h2load closed loop: 8 connections for a bounded time. Social submissions are the
multipart 23 KB JPEG of ``bench_submit.photo``; each setup gets a fresh enterprise tenant.
"""

from __future__ import annotations

import json
from typing import Any

import _load
from _services import (
    ROOT,
    SERVERS,
    cli,
    create_tenant_key,
    distributed_env,
    free_port,
    process,
    raise_limits,
    retire_queued_jobs,
    server_command,
)
from bench_submit import photo

CONNECTIONS = 8
HELLO_SECONDS = 5
SUBMIT_SECONDS = 8


def main() -> dict[str, Any]:
    if not _load.available():
        return {"unavailable": "h2load is not installed (scripts/install-bench-tools.sh)"}
    body, ctype = _load.multipart({"formats": "instagram.story"}, {"image": ("p.jpg", photo(), "image/jpeg")})
    rows: dict[str, Any] = {}
    notes: set[str] = set()
    with distributed_env() as env:
        assert cli(env, "migrate").returncode == 0
        for name, (server, workers) in SERVERS.items():
            port = free_port()
            hello_cmd = server_command(
                server, workers, "hello_app:app", port, factory=False, app_dir=ROOT / "bench"
            )
            with process(hello_cmd, env, f"http://127.0.0.1:{port}/hello"):
                hello = _load.Request(f"http://127.0.0.1:{port}/hello")
                _load.run([hello], connections=CONNECTIONS, count=500)  # warm-up
                hello_result = _load.run([hello], connections=CONNECTIONS, seconds=HELLO_SECONDS)
            port = free_port()
            gateway_cmd = server_command(
                server,
                workers,
                "gateway.app:create_app",
                port,
                factory=True,
                app_dir=ROOT / "services/gateway",
            )
            with process(gateway_cmd, env, f"http://127.0.0.1:{port}/healthz"):
                tenant, key = create_tenant_key(env, f"bench-{name}")
                if note := raise_limits(env, tenant):
                    notes.add(note)
                submit = _load.Request(
                    f"http://127.0.0.1:{port}/api/image-studio/social/optimize",
                    {"Authorization": f"Bearer {key}", "Content-Type": ctype},
                    body,
                )
                _load.run([submit], connections=CONNECTIONS, count=40)  # warm-up (every worker process)
                retire_queued_jobs(env)
                submit_result = _load.run([submit], connections=CONNECTIONS, seconds=SUBMIT_SECONDS)
                retire_queued_jobs(env)
            rows[name] = {
                "hello": hello_result.summary(),
                "social_multipart": submit_result.summary(),
                "ratio": round(submit_result.ok_per_second / hello_result.ok_per_second, 4)
                if hello_result.ok_per_second
                else None,
            }
    base = rows["uvicorn-1"]["social_multipart"]["ok_per_second"] or 1.0
    for row in rows.values():
        row["social_vs_uvicorn_1"] = round(row["social_multipart"]["ok_per_second"] / base, 2)
    return {"connections": CONNECTIONS, "setups": rows, "notes": sorted(notes)}


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
