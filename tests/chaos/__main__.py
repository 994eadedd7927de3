"""``make chaos``: the full chaos run (at least 1,000 jobs by default); prints the figures, exits 1 on a broken invariant."""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
from pathlib import Path

from chaos.harness import ChaosConfig, ChaosRun


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m chaos", description=__doc__)
    parser.add_argument("--jobs", type=int, default=1200, help="submissions attempted (bounded)")
    parser.add_argument("--load-seconds", type=float, default=600, help="the load is paced over this span")
    parser.add_argument(
        "--drain-seconds", type=float, default=300, help="upper bound on the wait for all to end"
    )
    parser.add_argument("--kill-every", type=float, default=4, help="seconds between worker SIGKILLs")
    parser.add_argument(
        "--restarts", type=int, default=2, help="restarts of each of RabbitMQ, PostgreSQL, S3"
    )
    parser.add_argument("--seed", type=int, default=12)
    args = parser.parse_args()
    config = ChaosConfig(
        jobs=args.jobs,
        load_seconds=args.load_seconds,
        drain_seconds=args.drain_seconds,
        kill_every_seconds=args.kill_every,
        rabbit_restarts=args.restarts,
        postgres_restarts=args.restarts,
        s3_restarts=args.restarts,
        seed=args.seed,
    )
    # `timeout` (make chaos) sends SIGTERM: unwind, so the private servers are stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(124))
    root = Path(tempfile.mkdtemp(prefix="imagestudio-chaos-"))
    report = ChaosRun(config, root).run()
    sys.stdout.write(report.table() + "\n")
    for failure in report.failures:
        sys.stdout.write(f"FAILED: {failure}\n")
    sys.stdout.write(f"logs: {report.logs}\n")
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
