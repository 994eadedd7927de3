"""The submission benchmarks (issues 11 and 31), in one run, as ratios to the floor and to hello.

Distributed mode (PostgreSQL, RabbitMQ, S3 server on loopback), the hello route and the gateway on
the same ASGI server setup (``IMAGESTUDIO_BENCH_SERVER``, default the one ``imagestudio up`` uses),
h2load as the load generator (see ``_load``), every run bounded in time (``-D``) or count (``-n``)
and by a process timeout. Every tenant gets raised limits through ``imagestudio tenants
set-limits`` so the figures measure the gateway, not the tier (a note says so when the command is
missing). A row whose endpoint does not exist yet reports ``unavailable`` instead of failing.

- P1a  JSON submission referencing an upload id, one tenant, 8 and 32 connections: >= 0.5x the
       floor (``floor_app.py``: FastAPI, one INSERT committed through async psycopg, 202), also
       shown as a ratio to the hello route; the three servers run side by side (uvicorn, uvloop
       + httptools, one process each) and are loaded in alternating rounds (``ROUNDS``, the order
       rotating each round), each ratio taken within a round, the median reported
- CPU per accepted job in those rounds (``/proc/<pid>/stat``): gateway <= 0.7 ms, its outbox
       relay (a child process) <= 0.2 ms, beside the floor's and hello's per request; with
       ``IMAGESTUDIO_BENCH_BASE`` a base tree's gateway, with ``IMAGESTUDIO_BENCH_ALT_ENV`` this
       tree's gateway with other settings, in the same rounds
- P1b  multipart submission of a 23 KB JPEG, one tenant: >= 0.1x hello
- P1c  batch of 100 social jobs: jobs accepted per second >= 10x P1a
- one tenant within 20 % of the same load spread over 8 tenants
- p99 latency at 70 % of P1a's maximum rate (constant rate, open loop): <= 50 ms
- P2   submit -> worker start (``started_at - created_at``), idle and at 50 % load:
       median <= 10 ms, p99 <= 50 ms
"""

from __future__ import annotations

import io
import json
import os
import statistics
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any

import _load
import httpx
import psycopg
from _services import (
    BIN,
    ROOT,
    children,
    cli,
    create_tenant_key,
    distributed_env,
    free_port,
    proc_stat,
    process,
    raise_limits,
    retire_queued_jobs,
    server_command,
    stop,
)
from PIL import Image

API = "/api/image-studio"
#: Server setup for both the hello route and the gateway: a key of ``_services.SERVERS``.
SERVER = os.environ.get("IMAGESTUDIO_BENCH_SERVER", "uvicorn-1")
SECONDS = 6
HELLO_SECONDS = 5
#: Alternating rounds of hello, floor and gateway (P1a) per connection count.
ROUNDS = int(os.environ.get("IMAGESTUDIO_BENCH_ROUNDS", "3"))
#: A tree of the code before a change (``shared/`` and ``services/``), whose gateway joins the
#: P1a rounds as ``gateway_base``: before and after measured in the same rounds.
BASE = os.environ.get("IMAGESTUDIO_BENCH_BASE", "")
#: Settings (``NAME=value`` separated by spaces) of a second gateway of this tree, joining the
#: P1a rounds as ``gateway_alt``: a setting decided by CPU per job and jobs/s in the same rounds
#: (e.g. ``IMAGESTUDIO_GATEWAY_SUBMIT_ON_LOOP=true``).
ALT_ENV = dict(item.split("=", 1) for item in os.environ.get("IMAGESTUDIO_BENCH_ALT_ENV", "").split())
TENANTS = 8
BATCH = 100
#: P2: probe jobs per phase, and their rate (well under one social worker's capacity).
PROBES = 15
PROBE_RATE = 1.5


def photo() -> bytes:
    """A 640x480 JPEG of about 23 KB: the social submission's upload."""
    buf = io.BytesIO()
    Image.effect_mandelbrot((640, 480), (-2, -1.2, 1, 1.2), 100).convert("RGB").save(buf, "JPEG", quality=85)
    return buf.getvalue()


def small_photo() -> bytes:
    """A 96x72 JPEG: the P2 probe's upscale input."""
    buf = io.BytesIO()
    Image.effect_mandelbrot((96, 72), (-2, -1.2, 1, 1.2), 50).convert("RGB").save(buf, "JPEG", quality=85)
    return buf.getvalue()


def _target(name: str, value: float | None, op: str, goal: float, **extra: Any) -> dict[str, Any]:
    if value is None:
        return {"target": f"{op} {goal}", "value": None, "pass": None, **extra}
    passed = value >= goal if op == ">=" else value <= goal
    return {"target": f"{op} {goal}", "value": round(value, 3), "pass": passed, **extra}


class Gateway:
    """The gateway under test: base URL, a way to create tenants with raised limits, request shapes."""

    def __init__(self, env: dict[str, str], base: str) -> None:
        self.env, self.base, self.notes = env, base, set[str]()
        self.image = photo()

    def tenant(self, name: str) -> tuple[str, str]:
        tenant, key = create_tenant_key(self.env, name)
        if note := raise_limits(self.env, tenant):
            self.notes.add(note)
        return tenant, key

    def upload(self, key: str, image: bytes | None = None) -> str | None:
        """Upload the photo (or ``image``) once; its id, or None when ``POST /uploads`` does not exist yet."""
        r = httpx.post(
            f"{self.base}{API}/uploads",
            headers={"Authorization": f"Bearer {key}"},
            files={"file": ("p.jpg", image or self.image, "image/jpeg")},
            timeout=30,
        )
        return str(r.json()["id"]) if r.status_code == 201 else None

    def json_submit(self, key: str, upload_id: str) -> _load.Request:
        body = json.dumps({"image": upload_id, "formats": ["instagram.story"]}).encode()
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        return _load.Request(f"{self.base}{API}/social/optimize", headers, body)

    def multipart_submit(self, key: str, studio: str = "social") -> _load.Request:
        fields = {"formats": "instagram.story"} if studio == "social" else {"mode": "fast", "path": "local"}
        path = "/social/optimize" if studio == "social" else "/upscale"
        body, ctype = _load.multipart(fields, {"image": ("p.jpg", self.image, "image/jpeg")})
        return _load.Request(
            f"{self.base}{API}{path}", {"Authorization": f"Bearer {key}", "Content-Type": ctype}, body
        )

    def json_upscale(self, key: str, upload_id: str) -> _load.Request:
        """A JSON upscale job on the local path (the P2 probe: its own queue and worker)."""
        body = json.dumps({"image": upload_id, "mode": "fast", "path": "local"}).encode()
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        return _load.Request(f"{self.base}{API}/upscale", headers, body)

    def batch_submit(self, key: str, upload_id: str) -> _load.Request:
        job = {"studio": "social", "params": {"image": upload_id, "formats": ["instagram.story"]}}
        body = json.dumps({"jobs": [job] * BATCH}).encode()
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        return _load.Request(f"{self.base}{API}/jobs/batch", headers, body)

    def accepts(self, req: _load.Request) -> tuple[bool, Any]:
        """Send one request; (answered 2xx, its JSON body or status)."""
        r = httpx.post(req.url, headers=req.headers, content=req.body, timeout=60)
        try:
            return 200 <= r.status_code < 300, r.json()
        except ValueError:
            return False, r.status_code


def _closed(reqs: list[_load.Request], connections: int, env: dict[str, str]) -> _load.LoadResult:
    _load.run(reqs, connections=connections, count=max(connections * 4, 40))  # warm-up
    retire_queued_jobs(env)
    result = _load.run(reqs, connections=connections, seconds=SECONDS)
    retire_queued_jobs(env)
    return result


def _baseline_command(app: str, port: int) -> list[str]:
    server, workers = _setup()
    return server_command(server, workers, app, port, factory=False, app_dir=ROOT / "bench")


@dataclass
class Server:
    """A server loaded in the alternating rounds: its request, its process and its child processes."""

    request: _load.Request
    pid: int
    children: set[str] = dataclass_field(default_factory=set)
    #: A gateway's bench environment: its queued jobs are retired after each run.
    env: dict[str, str] | None = None

    def cpu_seconds(self) -> tuple[float, float]:
        """(its own CPU seconds so far, its children's)."""
        kids = 0.0
        for pid in self.children:
            try:
                kids += proc_stat(pid).cpu_seconds
            except OSError:
                continue
        return proc_stat(self.pid).cpu_seconds, kids


def alternating(servers: dict[str, Server], connections: int) -> list[dict[str, Any]]:
    """``ROUNDS`` rounds, each loading every server once for ``SECONDS`` (the order rotating);
    per round and server: the run's summary and CPU ms per 2xx answer (own, children's)."""
    names = list(servers)
    rounds = []
    for r in range(ROUNDS):
        row: dict[str, Any] = {}
        for name in names[r % len(names) :] + names[: r % len(names)]:
            server = servers[name]
            own, kids = server.cpu_seconds()
            result = _load.run([server.request], connections=connections, seconds=SECONDS)
            own_after, kids_after = server.cpu_seconds()
            if server.env is not None:
                retire_queued_jobs(server.env)
            ok = max(result.ok, 1)
            row[name] = {
                **result.summary(),
                "cpu_ms_per_ok": round(1000 * (own_after - own) / ok, 3),
                "children_cpu_ms_per_ok": round(1000 * (kids_after - kids) / ok, 3),
            }
        rounds.append(row)
    return rounds


def _median(rounds: list[dict[str, Any]], value: Callable[[dict[str, Any]], float]) -> float:
    return statistics.median(value(row) for row in rounds)


def p1a_targets(rounds: dict[int, list[dict[str, Any]]]) -> dict[str, Any]:
    """Issue 31's P1a and CPU targets from the alternating rounds (ratios within each round)."""
    targets: dict[str, Any] = {}
    for c, rows in rounds.items():
        per_second = {n: _median(rows, lambda row, n=n: row[n]["ok_per_second"]) for n in rows[0]}
        targets[f"P1a_json_c{c}_ratio_to_floor"] = _target(
            "",
            _median(rows, lambda row: row["gateway"]["ok_per_second"] / row["floor"]["ok_per_second"]),
            ">=",
            0.5,
            moonshot=0.7,
            ratio_to_hello=round(
                _median(rows, lambda row: row["gateway"]["ok_per_second"] / row["hello"]["ok_per_second"]), 3
            ),
            median_per_second=per_second,
            rounds=rows,
        )
    rows = rounds[8]
    targets["gateway_cpu_ms_per_job"] = _target(
        "",
        _median(rows, lambda row: row["gateway"]["cpu_ms_per_ok"]),
        "<=",
        0.7,
        floor_cpu_ms_per_request=_median(rows, lambda row: row["floor"]["cpu_ms_per_ok"]),
        hello_cpu_ms_per_request=_median(rows, lambda row: row["hello"]["cpu_ms_per_ok"]),
    )
    targets["relay_cpu_ms_per_job"] = _target(
        "", _median(rows, lambda row: row["gateway"]["children_cpu_ms_per_ok"]), "<=", 0.2
    )
    for other in ("gateway_base", "gateway_alt"):
        if other in rows[0]:  # before and after a change, or two settings, in the same rounds
            targets[f"against_{other.removeprefix('gateway_')}"] = _against(rounds, other)
    return targets


def _against(rounds: dict[int, list[dict[str, Any]]], other: str) -> dict[str, Any]:
    """The gateway against ``other`` in the same rounds: jobs/s ratios, the other's CPU per job."""
    rows = rounds[8]
    return {
        f"c{c}_jobs_per_second_ratio": round(
            _median(rs, lambda row: row["gateway"]["ok_per_second"] / row[other]["ok_per_second"]), 3
        )
        for c, rs in rounds.items()
    } | {
        f"{other}_cpu_ms_per_job": _median(rows, lambda row: row[other]["cpu_ms_per_ok"]),
        f"{other}_relay_cpu_ms_per_job": _median(rows, lambda row: row[other]["children_cpu_ms_per_ok"]),
        f"{other}_cpu_ms_per_job_c32": _median(rounds[32], lambda row: row[other]["cpu_ms_per_ok"]),
        "gateway_cpu_ms_per_job_c32": _median(rounds[32], lambda row: row["gateway"]["cpu_ms_per_ok"]),
    }


def _gateway_command(server: str, workers: int, port: int) -> list[str]:
    """The gateway as it ships (``imagestudio up``: uvicorn, one process, its relay in a child
    process) for the chosen setup; another server setup serves the app directly (relay in it)."""
    if (server, workers) == ("uvicorn", 1):
        return [str(BIN / "imagestudio"), "up", "--port", str(port)]
    return server_command(
        server, workers, "gateway.app:create_app", port, factory=True, app_dir=ROOT / "services/gateway"
    )


def _setup() -> tuple[str, int]:
    from _services import SERVERS

    return SERVERS[SERVER]


def _start_latency(env: dict[str, str], tenant_id: str) -> list[float]:
    """``started_at - created_at`` in ms for the tenant's jobs that a worker started, oldest job
    first (so ``[1:]`` leaves out the warm-up job: without the order PostgreSQL returns rows as
    they lie in the heap, where an updated row moves)."""
    with psycopg.connect(env["IMAGESTUDIO_DATABASE_URL"]) as conn:
        rows = conn.execute(
            "SELECT EXTRACT(EPOCH FROM (started_at - created_at)) * 1000 FROM jobs "
            "WHERE tenant_id = %s AND started_at IS NOT NULL ORDER BY created_at",
            (tenant_id,),
        ).fetchall()
    return [float(r[0]) for r in rows]


def _run_median(env: dict[str, str], tenant_id: str) -> float | None:
    """Median ``finished_at - started_at`` in ms: the worker's own time per probe job (is it idle?)."""
    with psycopg.connect(env["IMAGESTUDIO_DATABASE_URL"]) as conn:
        rows = conn.execute(
            "SELECT EXTRACT(EPOCH FROM (finished_at - started_at)) * 1000 FROM jobs "
            "WHERE tenant_id = %s AND finished_at IS NOT NULL",
            (tenant_id,),
        ).fetchall()
    return round(statistics.median(float(r[0]) for r in rows), 1) if rows else None


def _relay_latency(env: dict[str, str], tenant_id: str) -> list[float]:
    """``published_at - created_at`` in ms of the run messages of the tenant's jobs (the relay's
    share), oldest job first."""
    with psycopg.connect(env["IMAGESTUDIO_DATABASE_URL"]) as conn:
        rows = conn.execute(
            "SELECT EXTRACT(EPOCH FROM (o.published_at - j.created_at)) * 1000 FROM jobs j "
            "JOIN outbox o ON o.kwargs->>'job_id' = j.id "
            "WHERE j.tenant_id = %s AND o.published_at IS NOT NULL AND o.actor_name LIKE '%%.run_job' "
            "ORDER BY j.created_at",
            (tenant_id,),
        ).fetchall()
    return [float(r[0]) for r in rows]


def _created(env: dict[str, str], tenant_id: str) -> list[float]:
    """The tenant's jobs' ``created_at`` as epoch seconds, oldest first."""
    with psycopg.connect(env["IMAGESTUDIO_DATABASE_URL"]) as conn:
        rows = conn.execute(
            "SELECT EXTRACT(EPOCH FROM created_at) FROM jobs WHERE tenant_id = %s ORDER BY created_at",
            (tenant_id,),
        ).fetchall()
    return [float(r[0]) for r in rows]


class Listener:
    """Hears the outbox channel as a relay would, recording when each notification arrived: the
    wake's share of P2 (``created_at`` → the first ``NOTIFY`` heard after it; idle only, where
    nothing else notifies)."""

    def __init__(self, env: dict[str, str]) -> None:
        import threading

        self.heard: list[float] = []
        self._stop = threading.Event()
        self._conn = psycopg.connect(env["IMAGESTUDIO_DATABASE_URL"], autocommit=True)
        self._conn.execute("LISTEN imagestudio_outbox")
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            for _ in self._conn.notifies(timeout=0.2):
                self.heard.append(time.time())

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._conn.close()

    def after(self, created: list[float]) -> list[float]:
        """ms from each ``created`` to the first notification heard after it."""
        import bisect

        heard = sorted(self.heard)
        out = []
        for c in created:
            i = bisect.bisect_left(heard, c)
            if i < len(heard):
                out.append((heard[i] - c) * 1000)
        return out


def _wait_started(env: dict[str, str], tenant_id: str, expected: int, timeout: float = 60) -> None:
    """Wait (bounded) until ``expected`` of the tenant's jobs have started."""
    deadline = time.monotonic() + timeout
    while len(_start_latency(env, tenant_id)) < expected and time.monotonic() < deadline:
        time.sleep(0.25)


def _p2(gw: Gateway, env: dict[str, str], load_rate: float | None, use_json: bool) -> dict[str, Any]:
    """Submit → worker start: upscale probes with an upscale worker running; background load, when
    asked, is P1a's own shape (JSON social naming an upload) on the social queue, which no worker
    drains here, so the probes queue behind it only in the gateway, the relay and the broker."""
    label = "idle" if load_rate is None else "load"
    tenant, key = gw.tenant(f"bench-p2-{label}")
    # A small probe image: its upscale takes a few ms, so the worker is idle when each probe
    # arrives and P2 measures the path to the worker, not a queue inside it.
    upload_id = gw.upload(key, image=small_photo()) if use_json else None
    if upload_id is None:
        return {"unavailable": "POST /uploads or JSON bodies missing"}
    probe = gw.json_upscale(key, upload_id)
    background: list[_load.Request] = []
    note = None
    if load_rate is not None:
        _, bg_key = gw.tenant("bench-p2-background")
        bg_upload = gw.upload(bg_key)
        assert bg_upload is not None
        candidate = gw.json_submit(bg_key, bg_upload)
        ok, answer = gw.accepts(candidate)
        if not ok:
            return {"unavailable": f"background submission refused: {answer}"}
        background = [candidate]
        note = f"background: JSON social submissions (no social worker runs) at {load_rate:.1f}/s"
    worker = _spawn_worker(env, "upscale")
    listener = Listener(env)
    try:
        gw.accepts(probe)  # the worker's first job warms it
        _wait_started(env, tenant, 1)
        bg_thread = None
        if background:
            import threading

            bg_seconds = PROBES / PROBE_RATE + 4
            bg_thread = threading.Thread(
                target=_load.run,
                args=(background,),
                kwargs={"connections": 16, "count": int(load_rate * bg_seconds), "rate": load_rate},  # type: ignore[operator]
            )
            bg_thread.start()
            time.sleep(1)
        _load.run([probe], connections=1, count=PROBES, rate=PROBE_RATE)
        if bg_thread is not None:
            bg_thread.join(120)
        _wait_started(env, tenant, PROBES + 1)
    finally:
        stop(worker)
        listener.close()
    lat = sorted(_start_latency(env, tenant)[1:])
    if not lat:
        return {"unavailable": "no probe job started"}
    relay = _relay_latency(env, tenant)[1:]
    result = {
        "jobs": len(lat),
        "worker_run_median_ms": _run_median(env, tenant),
        "relay_published_ms": {
            "median": round(statistics.median(relay), 2) if relay else None,
            "max": round(max(relay), 2) if relay else None,
        },
        "median_ms": round(statistics.median(lat), 2),
        "notify_heard_median_ms": (
            round(statistics.median(heard), 2)
            if (heard := listener.after(_created(env, tenant)[1:])) and load_rate is None
            else None
        ),
        "p99_ms": round(lat[min(len(lat) - 1, int(0.99 * (len(lat) - 1) + 0.5))], 2),
        "median": _target("median", statistics.median(lat), "<=", 10),
        "p99": _target("p99", lat[min(len(lat) - 1, int(0.99 * (len(lat) - 1) + 0.5))], "<=", 50),
    }
    if note:
        result["note"] = note
    return result


def _spawn_worker(env: dict[str, str], studio: str) -> Any:
    import subprocess

    from _services import BIN

    proc = subprocess.Popen(
        [str(BIN / "imagestudio"), "worker", studio],
        env={**os.environ, **env},
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return proc


def _base_gateway(stack: ExitStack) -> Server:
    """The gateway of the tree at ``BASE`` (``git archive <commit> shared services | tar -x -C
    BASE``, or a checkout: its packages come first on the path), served as the one under test is."""
    return _other_gateway(stack, "bench-base", {"PYTHONPATH": f"{BASE}/shared:{BASE}/services/gateway"})


def _other_gateway(stack: ExitStack, tenant: str, settings: dict[str, str]) -> Server:
    """Another gateway in the rounds, with ``settings`` added to its environment, on a database and
    vhost of its own."""
    env = stack.enter_context(distributed_env())
    env.update(settings)
    assert cli(env, "migrate").returncode == 0
    server, workers = _setup()
    port = free_port()
    proc = stack.enter_context(
        process(_gateway_command(server, workers, port), env, f"http://127.0.0.1:{port}/healthz")
    )
    gw = Gateway(env, f"http://127.0.0.1:{port}")
    _, key = gw.tenant(tenant)
    upload_id = gw.upload(key)
    assert upload_id is not None
    return Server(gw.json_submit(key, upload_id), proc.pid, children(proc.pid), env)


def main(*, with_p2: bool = True, only_p1a: bool = False) -> dict[str, Any]:
    if not _load.available():
        return {"unavailable": "h2load is not installed (scripts/install-bench-tools.sh)"}
    server, workers = _setup()
    out: dict[str, Any] = {"server": SERVER, "rounds": ROUNDS, "seconds_per_run": SECONDS}
    with distributed_env() as env, ExitStack() as stack:
        assert cli(env, "migrate").returncode == 0
        servers: dict[str, Server] = {}
        body = json.dumps({"image": "upl_bench", "formats": ["instagram.story"]}).encode()
        for name, app, path, request in [
            ("hello", "hello_app:app", "/hello", None),
            ("floor", "floor_app:app", "/openapi.json", body),
        ]:
            port = free_port()
            proc = stack.enter_context(
                process(_baseline_command(app, port), env, f"http://127.0.0.1:{port}{path}")
            )
            url = f"http://127.0.0.1:{port}" + ("/hello" if request is None else "/jobs")
            headers = {} if request is None else {"Content-Type": "application/json"}
            servers[name] = Server(_load.Request(url, headers, request), proc.pid)
        port = free_port()
        gateway = stack.enter_context(
            process(_gateway_command(server, workers, port), env, f"http://127.0.0.1:{port}/healthz")
        )
        gw = Gateway(env, f"http://127.0.0.1:{port}")
        tenants = [gw.tenant(f"bench-{i}") for i in range(1 if only_p1a else TENANTS)]  # a CLI call each
        _, key = tenants[0]
        upload_id = gw.upload(key)
        assert upload_id is not None and gw.accepts(gw.json_submit(key, upload_id))[0], (
            "JSON submission refused"
        )
        servers["gateway"] = Server(gw.json_submit(key, upload_id), gateway.pid, children(gateway.pid), env)
        if BASE:  # the code before a change, in the same rounds, on a database and vhost of its own
            servers["gateway_base"] = _base_gateway(stack)
        if ALT_ENV:  # this tree with other settings, in the same rounds
            servers["gateway_alt"] = _other_gateway(stack, "bench-alt", ALT_ENV)
        for each in servers.values():  # warm-up
            _load.run([each.request], connections=8, count=200)
            if each.env is not None:
                retire_queued_jobs(each.env)
        if only_p1a:
            out["targets"] = p1a_targets({c: alternating(servers, c) for c in (8, 32)})
            return out
        # P1a beside the floor and hello, alternating rounds; CPU per accepted job in the same runs.
        rounds = {c: alternating(servers, c) for c in (8, 32)}
        targets = p1a_targets(rounds)
        p1a_rate = statistics.median(row["gateway"]["ok_per_second"] for row in rounds[8])
        hello_rate = statistics.median(row["hello"]["ok_per_second"] for row in rounds[8])
        # P1b: multipart.
        p1b = _closed([gw.multipart_submit(key)], 8, env)
        targets["P1b_multipart_c8_ratio_to_hello"] = _target(
            "", p1b.ok_per_second / hello_rate, ">=", 0.1, run=p1b.summary()
        )
        # P1c: batch of 100.
        probe = gw.accepts(gw.batch_submit(key, upload_id))
        entries = probe[1].get("jobs", probe[1]) if isinstance(probe[1], dict) else probe[1]
        accepted = sum(1 for e in entries if isinstance(e, dict) and e.get("status", 202) in (202, "queued"))
        per_batch = accepted or BATCH
        batch = _closed([gw.batch_submit(key, upload_id)], 8, env)
        jobs_per_second = batch.ok_per_second * per_batch
        targets["P1c_batch_jobs_ratio_to_P1a"] = _target(
            "",
            jobs_per_second / p1a_rate,
            ">=",
            10,
            jobs_per_second=round(jobs_per_second, 1),
            jobs_accepted_per_batch=per_batch,
            run=batch.summary(),
        )
        # One tenant vs eight: the same shape (8 h2load processes, 1 connection each).
        ids = {k: gw.upload(k) for _, k in tenants}

        def shape(k: str) -> _load.Request:
            upl = ids[k]
            assert upl is not None
            return gw.json_submit(k, upl)

        one = _closed([shape(key)] * TENANTS, TENANTS, env)
        spread = _closed([shape(k) for _, k in tenants], TENANTS, env)
        targets["one_tenant_vs_8_tenants"] = _target(
            "",
            one.ok_per_second / spread.ok_per_second if spread.ok_per_second else None,
            ">=",
            0.8,
            shape="json",
            one_tenant=one.summary(),
            eight_tenants=spread.summary(),
        )
        # p99 at 70 % of the maximum rate, constant rate (open loop over 32 connections).
        rate = 0.7 * p1a_rate
        paced = _load.run([shape(key)], connections=32, count=max(50, int(rate * SECONDS)), rate=rate)
        retire_queued_jobs(env)
        targets["P1a_p99_at_70pct_ms"] = _target(
            "", paced.percentile(99), "<=", 50, shape="json", rate=round(rate, 1), run=paced.summary()
        )
        out["targets"] = targets
        out["notes"] = sorted(gw.notes)
    if with_p2:
        # P2 on a fresh database and vhost: the runs above leave thousands of messages on the social
        # queue (their jobs retired in the database), which a worker would have to skip first.
        out["targets"].update(p2(use_json=True, max_rate=p1a_rate))
    return out


def p2(*, use_json: bool, max_rate: float) -> dict[str, Any]:
    """P2 at idle and at 50 % of ``max_rate`` (submissions per second), on a fresh environment;
    with ``IMAGESTUDIO_BENCH_BASE`` (or ``IMAGESTUDIO_BENCH_ALT_ENV``), ``ROUNDS`` rounds
    alternating the base tree's gateway (or this tree's with those settings) first and this tree's,
    each on a fresh environment."""
    if not BASE and not ALT_ENV:
        return _p2_of(use_json=use_json, max_rate=max_rate, settings={})
    base = {"PYTHONPATH": f"{BASE}/shared:{BASE}/services/gateway"} if BASE else ALT_ENV
    return {
        f"round_{n}": {
            "base": _p2_of(use_json=use_json, max_rate=max_rate, settings=base),
            "this": _p2_of(use_json=use_json, max_rate=max_rate, settings={}),
        }
        for n in range(1, ROUNDS + 1)
    }


def _p2_of(*, use_json: bool, max_rate: float, settings: dict[str, str]) -> dict[str, Any]:
    server, workers = _setup()
    with distributed_env() as env:
        env.update(settings)
        assert cli(env, "migrate").returncode == 0
        port = free_port()
        with process(_gateway_command(server, workers, port), env, f"http://127.0.0.1:{port}/healthz"):
            gw = Gateway(env, f"http://127.0.0.1:{port}")
            return {
                "load_average": os.getloadavg()[0],
                "P2_idle": _p2(gw, env, None, use_json),
                "P2_at_50pct_load": _p2(gw, env, 0.5 * max_rate, use_json),
            }


if __name__ == "__main__":
    import sys

    if sys.argv[1:2] == ["p2"]:  # P2 alone, at 50 % of the given submissions/s
        print(json.dumps(p2(use_json=True, max_rate=float(sys.argv[2])), indent=2))
    else:  # ``no-p2``: every target but P2; ``p1a``: only the alternating rounds
        args = sys.argv[1:2]
        print(json.dumps(main(with_p2=args == [], only_p1a=args == ["p1a"]), indent=2))
