"""``make chaos``: the full chaos run (at least 1,000 jobs by default), then the memory phase; prints the figures, exits 1 on a broken invariant."""

from __future__ import annotations

import argparse
import dataclasses
import signal
import sys
import tempfile
from pathlib import Path

from chaos.harness import ChaosConfig, ChaosRun
from chaos.memory import MemoryConfig, MemoryRun

#: The fault run's settings a flag of the same name sets.
CONFIG_FIELDS = frozenset(field.name for field in dataclasses.fields(ChaosConfig))


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m chaos", description=__doc__)
    parser.add_argument("--jobs", type=int, default=1200, help="submissions attempted (bounded)")
    parser.add_argument("--load-seconds", type=float, default=600, help="the load is paced over this span")
    parser.add_argument(
        "--drain-seconds", type=float, default=300, help="upper bound on the wait for all to end"
    )
    parser.add_argument(
        "--kill-every",
        dest="kill_every_seconds",
        type=float,
        default=4,
        help="seconds between worker SIGKILLs",
    )
    parser.add_argument(
        "--restarts", type=int, default=2, help="restarts of each of RabbitMQ, PostgreSQL, S3"
    )
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument(
        "--phase",
        choices=("all", "faults", "memory"),
        default="all",
        help="the fault run, the memory phase (caged workers, large and lying inputs), or both",
    )
    parser.add_argument("--memory-rounds", type=int, default=4, help="rounds of the heavy tenant's inputs")
    args = parser.parse_args()
    # The flags are named after the config's fields; --restarts is each service's.
    named = {name: value for name, value in vars(args).items() if name in CONFIG_FIELDS}
    restarts = dict.fromkeys(("rabbit_restarts", "postgres_restarts", "s3_restarts"), args.restarts)
    config = ChaosConfig(**named, **restarts)
    # `timeout` (make chaos) sends SIGTERM: unwind, so the private servers are stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(124))
    failed = False
    if args.phase in ("all", "faults"):
        root = Path(tempfile.mkdtemp(prefix="imagestudio-chaos-"))
        report = ChaosRun(config, root).run()
        sys.stdout.write(report.table() + "\n")
        failed |= _failures(report.failures, report.logs)
    if args.phase in ("all", "memory"):
        root = Path(tempfile.mkdtemp(prefix="imagestudio-chaos-memory-"))
        memory = MemoryConfig(heavy_rounds=args.memory_rounds, ordinary_jobs=60, load_seconds=180)
        run = MemoryRun(memory, root)
        outcome = run.run_memory()
        sys.stdout.write(run.report.table() + "\n" + outcome.table() + "\n")
        failed |= _failures(run.report.failures, run.report.logs)
    return 1 if failed else 0


def _failures(failures: list[str], logs: Path | None) -> bool:
    for failure in failures:
        sys.stdout.write(f"FAILED: {failure}\n")
    sys.stdout.write(f"logs: {logs}\n")
    return bool(failures)


if __name__ == "__main__":
    sys.exit(main())
