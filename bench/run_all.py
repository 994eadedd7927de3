"""Run every benchmark once and write the figures to bench/results/latest.json."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import bench_compress  # noqa: E402
import bench_compress_memory  # noqa: E402
import bench_create  # noqa: E402
import bench_crop_hard  # noqa: E402
import bench_cutout  # noqa: E402
import bench_local_ops  # noqa: E402
import bench_machine_cpu  # noqa: E402
import bench_memory  # noqa: E402
import bench_notify  # noqa: E402
import bench_relay  # noqa: E402
import bench_servers  # noqa: E402
import bench_social  # noqa: E402
import bench_submit  # noqa: E402

results = {
    "social": bench_social.main(),
    "crop_hard": bench_crop_hard.main(),
    "submit": bench_submit.main(),
    "machine_cpu": bench_machine_cpu.main(),
    "relay": bench_relay.main([100, 200, 500, 1000, 2000], 6),
    "servers": bench_servers.main(),
    "notify": bench_notify.main(),
    "create": bench_create.main(),
    "local_ops": bench_local_ops.main(),
    "cutout": bench_cutout.main(),
    "compress": bench_compress.main(),
    "memory": bench_memory.main(),
    "compress_memory": bench_compress_memory.main(),
}
out = Path(__file__).parent / "results"
out.mkdir(exist_ok=True)
(out / "latest.json").write_text(json.dumps(results, indent=2))
print(json.dumps(results, indent=2))
