"""PostgreSQL statements per social job: one submission through the gateway, then its run by a worker.

Distributed mode, everything in this one process so a SQLAlchemy ``before_cursor_execute``
listener sees every statement: the gateway app (its lifespan runs the outbox relay) under
Starlette's TestClient, then a Dramatiq worker on the social queue. Prints statements by phase,
verb and table (writes are what the capacity page needs).

    .venv/bin/python bench/count_statements.py
"""

from __future__ import annotations

import json
import os
import re
import time
from collections import Counter
from typing import Any

from _services import cli, create_tenant_key, distributed_env, raise_limits
from bench_submit import photo


def main() -> dict[str, Any]:
    with distributed_env() as env:
        os.environ.update(env)
        assert cli(env, "migrate").returncode == 0
        tenant, key = create_tenant_key(env, "bench-count")
        raise_limits(env, tenant)

        import dramatiq
        from fastapi.testclient import TestClient
        from sqlalchemy import event
        from sqlalchemy.engine import Engine

        from gateway.app import create_app
        from imagestudio.config import get_settings

        get_settings.cache_clear()
        phase = {"name": "setup"}
        seen: dict[str, Counter[str]] = {}

        def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            verb = statement.lstrip().split(None, 1)[0].upper()
            table = re.search(r"(?:FROM|INTO|UPDATE)\s+\"?(\w+)", statement, re.IGNORECASE)
            label = f"{verb} {table.group(1) if table else ''}".strip()
            seen.setdefault(phase["name"], Counter())[label] += 1

        event.listen(Engine, "before_cursor_execute", record)
        with TestClient(create_app()) as client:
            client.get("/healthz")
            phase["name"] = "submit (request)"
            r = client.post(
                "/api/image-studio/social/optimize",
                headers={"Authorization": f"Bearer {key}"},
                files={"image": ("p.jpg", photo(), "image/jpeg")},
                data={"formats": "instagram.story"},
            )
            assert r.status_code == 202, r.text
            job_id = r.json()["id"]
            phase["name"] = "outbox relay (publish)"
            time.sleep(2)  # the relay thread publishes on its own poll/wake; nothing to wait on here
            phase["name"] = "worker (run the job)"
            from imagestudio.broker import get_broker
            from social_worker import main as social_main

            worker = dramatiq.Worker(get_broker(), queues=set(social_main.QUEUES), worker_threads=1)
            worker.start()
            deadline = time.monotonic() + 60
            status = ""
            while time.monotonic() < deadline and status not in ("succeeded", "failed"):
                status = client.get(
                    f"/api/image-studio/jobs/{job_id}", headers={"Authorization": f"Bearer {key}"}
                ).json()["status"]
                time.sleep(0.2)
            phase["name"] = "after"
            worker.stop()
        event.remove(Engine, "before_cursor_execute", record)
    polls = seen.get("worker (run the job)", Counter())
    return {
        "job_status": status,
        "note": "the worker phase also holds the benchmark's own GET /jobs polls (SELECT jobs/job_outputs/assets)",
        "phases": {name: dict(sorted(c.items())) for name, c in seen.items() if name != "setup"},
        "writes_worker": sum(v for k, v in polls.items() if k.split()[0] in ("INSERT", "UPDATE", "DELETE")),
    }


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
