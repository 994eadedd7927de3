"""PostgreSQL's CPU per submission, statement by statement: where the server's share of a job goes.

No gateway and no relay process: this process sends the submission statement itself
(``JobRepository``'s ``_SUBMISSION_DRIVER``, the gateway's event-loop path: an autocommit async
psycopg connection, one statement one transaction) from 8 connections, on a private database
migrated to head with one tenant whose limits never refuse. Variants of the statement, each
with one CTE taken out, say what each row costs; the floor's one ``INSERT`` (``floor_app.py``'s
table, committed in a transaction as the floor does) runs in the same rounds; so does the
relay's claim (``outbox.service._CLAIM_PG`` + ``COMMIT``, a batch of ``--batch`` rows). So do
the statement carrying 2 and 4 of the tenant's jobs (CPU per job), and the submission with a
tenant per connection (what sharing the one account row costs). Rounds alternate the variants. CPU is read from ``/proc``: the 8 backends' own (``backends``), and
every ``postgres`` process's (``server``: the backends plus the WAL writer, checkpointer,
autovacuum and whatever else the server ran meanwhile; other databases' work too, so run it
on a quiet machine).

    .venv/bin/python bench/bench_pg_submission.py [--count 3000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from typing import Any

import psycopg
from _services import BIN, ROOT, proc_stat, processes

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
CONNECTIONS = 8
#: Jobs a statement in the gathered variants (``jobs.submission_groups``).
GROUPS = (2, 4)


def _submission_sql() -> str:
    sys.path.insert(0, str(ROOT / "shared"))
    from imagestudio.jobs.repository import _SUBMISSION_DRIVER

    return _SUBMISSION_DRIVER


def _without(sql: str, cte: str) -> str:
    """The statement with one data-modifying CTE (``events``, ``messages``, ``ledger``) removed."""
    out, n = re.subn(rf"\), {cte} AS \(.*?\n\)(?=, \w+ AS \(|\nSELECT)", ")", sql, flags=re.S)
    assert n == 1, cte
    return out


@contextmanager
def _database(revision: str = "head") -> Iterator[str]:
    db = f"imagestudio_pgbench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{db}"')
    url = f"postgresql://postgres@127.0.0.1:5432/{db}"
    try:
        env = {
            **os.environ,
            "IMAGESTUDIO_DATABASE_URL": url,
            "IMAGESTUDIO_SECRET_KEY": "bench-secret-key-0123456789abcdef0123",
        }
        subprocess.run([str(BIN / "imagestudio"), "migrate"], env=env, check=True, capture_output=True)
        if revision != "head":  # the schema before a change: head, then down to ``revision``
            code = (
                "import sys; from alembic import command; from imagestudio.migrate import alembic_config;"
                " command.downgrade(alembic_config(sys.argv[1]), sys.argv[2])"
            )
            subprocess.run([sys.executable, "-c", code, url, revision], env=env, check=True)
        yield url
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


def _tenant(url: str) -> str:
    tenant = str(uuid.uuid4())
    with psycopg.connect(url) as conn:
        conn.execute(
            "INSERT INTO tenants (id, name, created_at, tier) VALUES (%s, 'bench', now(), 'pro')", (tenant,)
        )
        conn.execute(
            "INSERT INTO credit_accounts (tenant_id, balance, reserved, active_jobs, granted_month)"
            " VALUES (%s, 1000000000, 0, 0, '2026-12')",
            (tenant,),
        )
        conn.execute("INSERT INTO storage_accounts (tenant_id, stored_bytes) VALUES (%s, 0)", (tenant,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS floor_jobs (id varchar PRIMARY KEY, body jsonb NOT NULL,"
            " created_at timestamptz NOT NULL DEFAULT now())"
        )
    return tenant


def _params(tenant: str) -> dict[str, Any]:
    """A social JSON submission's bind parameters, shaped as ``JobRepository.submission_params`` makes them."""
    job_id, message_id = str(uuid.uuid4()), str(uuid.uuid4())
    params = {"formats": ["instagram.story"], "upload_id": str(uuid.uuid4()), "focal": None}
    options = {
        "broker_priority": 1,
        "trace": {"traceparent": f"00-{uuid.uuid4().hex}{uuid.uuid4().hex[:0]}-{uuid.uuid4().hex[:16]}-01"},
        "job_id": job_id,
    }
    return {
        "tenant_id": tenant,
        "amount": 1,
        "slots": 0,  # the account's concurrency count stays put: no slot is ever released here
        "max_active": 1_000_000,
        "max_stored_bytes": 1 << 60,
        "now": datetime.now(UTC),
        "jobs": json.dumps(
            [
                {
                    "id": job_id,
                    "studio": "social",
                    "params": params,
                    "inputs": {"image": f"uploads/{tenant}/{uuid.uuid4()}.jpg"},
                    "max_attempts": 3,
                    "created_at": datetime.now(UTC).isoformat(),
                    "start_deadline": None,
                    "priority": 1,
                    "output_retention_seconds": None,
                }
            ]
        ),
        "messages": json.dumps(
            [
                {
                    "message_id": message_id,
                    "queue_name": "social",
                    "actor_name": "social.run_job",
                    "kwargs": {"job_id": job_id},
                    "options": options,
                }
            ]
        ),
        "holds": json.dumps([{"job_id": job_id, "amount": 1}]),
    }


def _group(tenant: str, size: int) -> dict[str, Any]:
    """``size`` submissions of one tenant in one statement, as ``jobs.submission_groups`` sends
    those that arrived while the tenant's previous statement was in flight."""
    each = [_params(tenant) for _ in range(size)]
    merged = dict(each[0], amount=size)
    for name in ("jobs", "messages", "holds"):
        merged[name] = json.dumps([row for p in each for row in json.loads(p[name])])
    return merged


def _server_cpu() -> float:
    return sum(s.cpu_seconds for s in processes().values() if s.comm.startswith("postgres"))


def _backends_cpu(pids: list[int]) -> float:
    return sum(proc_stat(pid).cpu_seconds for pid in pids)


async def _submissions(
    url: str, count: int, send: Callable[[psycopg.AsyncConnection[Any]], Any]
) -> dict[str, float]:
    conns = [await psycopg.AsyncConnection.connect(url, autocommit=True) for _ in range(CONNECTIONS)]
    pids = [c.info.backend_pid for c in conns]
    for conn in conns:  # past psycopg's prepare threshold, as a warm gateway connection is
        for _ in range(6):
            await send(conn)
    left = [count]

    async def loop(conn: psycopg.AsyncConnection[Any]) -> None:
        while left[0] > 0:
            left[0] -= 1
            await send(conn)

    server, backends = _server_cpu(), _backends_cpu(pids)
    await asyncio.gather(*(loop(c) for c in conns))
    backends, server = _backends_cpu(pids) - backends, _server_cpu() - server
    for conn in conns:
        await conn.close()
    return {"backends": backends / count * 1000, "server": server / count * 1000}


async def _claims(url: str, batch: int) -> dict[str, float]:
    """The relay's claim + COMMIT until no row is pending, one connection: CPU per message."""
    sys.path.insert(0, str(ROOT / "shared"))
    from imagestudio.outbox.service import _CLAIM_PG

    conn = await psycopg.AsyncConnection.connect(url, autocommit=True)
    pid = [conn.info.backend_pid]
    server, backends, claimed = _server_cpu(), _backends_cpu(pid), 0
    while True:
        async with conn.transaction():
            rows = await (await conn.execute(_CLAIM_PG, (batch,))).fetchall()
        if not rows:
            break
        claimed += len(rows)
    backends, server = _backends_cpu(pid) - backends, _server_cpu() - server
    await conn.close()
    return {"backends": backends / claimed * 1000, "server": server / claimed * 1000, "claimed": claimed}


def main(count: int = 3000, rounds: int = 3, batch: int = 2, before: str = "") -> dict[str, Any]:
    """Every variant ``count`` times a round on the head schema (and the submission and the claim on
    the schema at revision ``before`` too, when given), ``rounds`` rounds in rotating order."""
    sql = _submission_sql()
    variants = {
        "submission": sql,
        "without the job.queued event": _without(sql, "events"),
        "without the ledger row": _without(sql, "ledger"),
        "without the outbox row": _without(sql, "messages"),
        "account UPDATE + job only": _without(_without(_without(sql, "events"), "ledger"), "messages"),
    }
    figures: dict[str, dict[str, list[float]]] = {}
    with ExitStack() as stack:
        urls = {"head": stack.enter_context(_database())}
        if before:
            urls[before] = stack.enter_context(_database(before))
        tenants = {schema: _tenant(url) for schema, url in urls.items()}

        # One tenant per connection: what the single tenant's account row costs when shared.
        apart = [_tenant(urls["head"]) for _ in range(CONNECTIONS)]

        def statement(
            text: str, schema: str, setup: str = "", size: int = 1
        ) -> Callable[[psycopg.AsyncConnection[Any]], Any]:
            async def send(conn: psycopg.AsyncConnection[Any]) -> None:
                if setup and not conn.info.parameter_status("application_name"):
                    await conn.execute(setup)
                    await conn.execute("SET application_name = 'set-up'")
                await (await conn.execute(text, _group(tenants[schema], size))).fetchone()

            return send

        async def tenant_apart(conn: psycopg.AsyncConnection[Any]) -> None:
            tenant = apart[conn.info.backend_pid % CONNECTIONS]
            await (await conn.execute(sql, _params(tenant))).fetchone()

        async def floor(conn: psycopg.AsyncConnection[Any]) -> None:
            async with conn.transaction():
                await conn.execute(
                    "INSERT INTO floor_jobs (id, body) VALUES (%s, %s)",
                    (uuid.uuid4().hex, json.dumps({"upload_id": str(uuid.uuid4()), "formats": ["a"]})),
                )

        runs: dict[str, tuple[str, Callable[[psycopg.AsyncConnection[Any]], Any]]] = {
            name: ("head", statement(text, "head")) for name, text in variants.items()
        }
        # Per job (the CPU divided by the statement's jobs): a tenant's submissions gathered.
        for size in GROUPS:
            runs[f"submission, {size} jobs a statement, per job"] = (
                "head",
                statement(sql, "head", size=size),
            )
        runs["submission, one tenant per connection"] = ("head", tenant_apart)
        # Foreign keys' checks off (superuser only; a measurement, never a proposal).
        runs["submission, foreign-key triggers off"] = (
            "head",
            statement(sql, "head", "SET session_replication_role = replica"),
        )
        if before:
            runs[f"submission on schema {before}"] = (before, statement(sql, before))
        runs["floor (one INSERT)"] = ("head", floor)
        names = list(runs)
        for r in range(rounds):
            for name in names[r % len(names) :] + names[: r % len(names)]:
                schema, send = runs[name]
                size = next((g for g in GROUPS if name.startswith(f"submission, {g} jobs")), 1)
                got = asyncio.run(_submissions(urls[schema], count // size, send))
                for k, v in got.items():
                    figures.setdefault(name, {}).setdefault(k, []).append(v / size)
            for schema, url in urls.items():
                got = asyncio.run(_claims(url, batch))
                label = f"relay claim + COMMIT, batch {batch}, per message" + (
                    "" if schema == "head" else f", schema {schema}"
                )
                for k in ("backends", "server"):
                    figures.setdefault(label, {}).setdefault(k, []).append(got[k])
        sizes = {}
        for schema, url in urls.items():
            with psycopg.connect(url) as conn:
                sizes[schema] = dict(
                    conn.execute(
                        "SELECT c.relname, pg_relation_size(c.oid) FROM pg_class c"
                        " JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'"
                        " WHERE c.relname LIKE ANY (ARRAY['%jobs%', '%outbox%', '%job_events%', '%ledger%'])"
                        " ORDER BY 1"
                    ).fetchall()
                )
    return {
        "load_average": os.getloadavg(),
        "count_per_run": count,
        "rounds": rounds,
        "cpu_ms_per_statement_median": {
            name: {k: round(statistics.median(v), 4) for k, v in f.items()} for name, f in figures.items()
        },
        "cpu_ms_per_statement_runs": {
            name: {k: [round(x, 4) for x in v] for k, v in f.items()} for name, f in figures.items()
        },
        "relation_bytes": sizes,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--before", default="", help="also the schema at this revision (e.g. 0015)")
    a = parser.parse_args()
    sys.stdout.write(json.dumps(main(a.count, a.rounds, a.batch, a.before), indent=2) + "\n")
