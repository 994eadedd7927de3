"""Load generation for the benchmarks: h2load (nghttp2-client) on loopback, bounded in count and time.

Why h2load: Python threads with httpx top out near 950 hello requests/s on this 2-core machine
(the generator saturates before the server), while h2load and wrk both reach the server's own
limit (~2,000/s for uvicorn's hello). h2load is kept because it alone covers every shape we need:
closed loop (``-c`` connections, ``-D`` seconds), constant rate (``--rps`` per connection, so an
open-loop p99 at a chosen rate; one process per connection, started apart, see ``_run_staggered``), a per-request log (``--log-file``) from which we compute any
percentile, and POST bodies from a file. Tenants rotate by running one h2load per tenant at once.
Installed by ``scripts/install-bench-tools.sh`` (Debian's ``nghttp2-client``).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Hard cap on one h2load process, on top of its own -D/-n bounds.
PROCESS_TIMEOUT_SECONDS = 90


@dataclass
class Request:
    """One request shape: a URL, headers, and an optional POST body (written to a file for h2load)."""

    url: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None


@dataclass
class LoadResult:
    """What one load run measured (2xx answers only count as successes)."""

    seconds: float
    ok: int
    failed: int
    statuses: dict[str, int]
    latencies_ms: list[float]

    @property
    def ok_per_second(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float | None:
        if not self.latencies_ms:
            return None
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]

    def summary(self) -> dict[str, Any]:
        return {
            "ok_per_second": round(self.ok_per_second, 1),
            "ok": self.ok,
            "failed": self.failed,
            "statuses": self.statuses,
            "p50_ms": _round(self.percentile(50)),
            "p99_ms": _round(self.percentile(99)),
            "seconds": round(self.seconds, 2),
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def available() -> bool:
    return shutil.which("h2load") is not None


def _command(
    req: Request,
    *,
    connections: int,
    seconds: float | None,
    requests: int | None,
    rps_per_connection: float | None,
    log: Path,
    data: Path | None,
) -> list[str]:
    args = ["h2load", "--h1", "-c", str(connections), "-m", "1", "--log-file", str(log)]
    if seconds is not None:
        args += ["-D", str(int(seconds))]
    else:
        args += ["-n", str(requests)]
    if rps_per_connection is not None:
        args += ["--rps", f"{rps_per_connection:.3f}"]
    for name, value in req.headers.items():
        args += ["-H", f"{name}: {value}"]
    if data is not None:
        args += ["-d", str(data)]
    args.append(req.url)
    return args


def _outcome(stdout: str, log: Path) -> tuple[float | None, dict[str, int], list[tuple[int, float]]]:
    """h2load's own elapsed time, status classes and (status, ms) per request from its log."""
    elapsed = None
    match = re.search(r"finished in ([\d.]+)(m?s)", stdout)
    if match:
        elapsed = float(match.group(1)) / (1000 if match.group(2) == "ms" else 1)
    # "status codes: 7497 2xx, 0 3xx, 0 4xx, 0 5xx"
    statuses = {k: int(v) for v, k in re.findall(r"(\d+) (\dxx)", stdout)}
    rows: list[tuple[int, float]] = []
    if log.exists():
        for line in log.read_text().splitlines():
            parts = line.split("\t")
            if len(parts) >= 3:
                rows.append((int(parts[1]), int(parts[2]) / 1000))
    return elapsed, statuses, rows


def _run_one(
    req: Request,
    *,
    connections: int,
    seconds: float | None,
    requests: int | None,
    rps_per_connection: float | None,
    workdir: Path,
) -> tuple[float, dict[str, int], list[tuple[int, float]]]:
    data = None
    if req.body is not None:
        data = workdir / f"body-{uuid.uuid4().hex[:8]}"
        data.write_bytes(req.body)
    if rps_per_connection is not None and connections > 1:
        return _run_staggered(
            req, connections=connections, seconds=seconds, requests=requests,
            rps_per_connection=rps_per_connection, workdir=workdir, data=data,
        )  # fmt: skip
    log = workdir / f"log-{uuid.uuid4().hex[:8]}.tsv"
    args = _command(
        req, connections=connections, seconds=seconds, requests=requests,
        rps_per_connection=rps_per_connection, log=log, data=data,
    )  # fmt: skip
    started = time.perf_counter()
    out = subprocess.run(args, capture_output=True, text=True, timeout=PROCESS_TIMEOUT_SECONDS)
    elapsed, statuses, rows = _outcome(out.stdout, log)
    return elapsed or time.perf_counter() - started, statuses, rows


def _run_staggered(
    req: Request,
    *,
    connections: int,
    seconds: float | None,
    requests: int | None,
    rps_per_connection: float,
    workdir: Path,
    data: Path | None,
) -> tuple[float, dict[str, int], list[tuple[int, float]]]:
    """A constant rate over ``connections``, arrivals spread evenly: one h2load per connection,
    each started ``1 / rate`` after the previous.

    One h2load with ``-c N --rps r`` fires its N connections on the same tick, so the server sees
    bursts of N requests every ``1/r`` seconds rather than a steady rate, and the last request of
    each burst waits for the N - 1 before it (32 connections at 100/s measured a 136 ms median here,
    against 6.7 ms with the arrivals spread).
    """
    gap = 1 / (connections * rps_per_connection)
    each = None if requests is None else max(1, requests // connections)
    runs: list[tuple[subprocess.Popen[str], Path]] = []
    started = time.perf_counter()
    try:
        for _ in range(connections):
            log = workdir / f"log-{uuid.uuid4().hex[:8]}.tsv"
            args = _command(
                req, connections=1, seconds=seconds, requests=each,
                rps_per_connection=rps_per_connection, log=log, data=data,
            )  # fmt: skip
            runs.append(
                (subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True), log)
            )
            time.sleep(gap)
        statuses: dict[str, int] = {}
        rows: list[tuple[int, float]] = []
        for proc, log in runs:
            stdout, _ = proc.communicate(timeout=PROCESS_TIMEOUT_SECONDS)
            _, st, found = _outcome(stdout, log)
            for k, v in st.items():
                statuses[k] = statuses.get(k, 0) + v
            rows += found
    finally:
        for proc, _ in runs:
            if proc.poll() is None:
                proc.kill()
    return time.perf_counter() - started, statuses, rows


def run(
    requests_by_client: list[Request],
    *,
    connections: int,
    seconds: float | None = None,
    count: int | None = None,
    rate: float | None = None,
) -> LoadResult:
    """Drive the server: one h2load per request shape at once, ``connections`` split among them.

    ``seconds`` bounds a closed-loop run in time; ``count`` bounds a run in requests (split evenly);
    ``rate`` (total requests/s) makes it open loop at a constant rate. Each process is also killed
    after PROCESS_TIMEOUT_SECONDS.
    """
    assert (seconds is None) != (count is None), "give seconds or count"
    shapes = len(requests_by_client)
    per_shape = max(1, connections // shapes)
    per_conn_rate = rate / (per_shape * shapes) if rate else None
    per_shape_count = None if count is None else max(per_shape, count // shapes)
    with tempfile.TemporaryDirectory(prefix="imagestudio-bench-") as tmp, ThreadPoolExecutor(shapes) as pool:
        results = list(
            pool.map(
                lambda req: _run_one(
                    req,
                    connections=per_shape,
                    seconds=seconds,
                    requests=per_shape_count,
                    rps_per_connection=per_conn_rate,
                    workdir=Path(tmp),
                ),
                requests_by_client,
            )
        )
    elapsed = max(r[0] for r in results)
    statuses: dict[str, int] = {}
    latencies: list[float] = []
    ok = failed = 0
    for _, st, rows in results:
        for k, v in st.items():
            statuses[k] = statuses.get(k, 0) + v
        for status, ms in rows:
            if 200 <= status < 300:
                ok += 1
                latencies.append(ms)
            else:
                failed += 1
    return LoadResult(elapsed, ok, failed, {k: v for k, v in statuses.items() if v}, latencies)


def multipart(fields: dict[str, str], files: dict[str, tuple[str, bytes, str]]) -> tuple[bytes, str]:
    """A multipart/form-data body and its Content-Type header."""
    boundary = f"bench{uuid.uuid4().hex}"
    parts: list[bytes] = []
    for name, value in fields.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        )
    for name, (filename, data, ctype) in files.items():
        head = (
            f"--{boundary}\r\nContent-Disposition: form-data; "
            f'name="{name}"; filename="{filename}"\r\nContent-Type: {ctype}\r\n\r\n'
        )
        parts.append(head.encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"
