"""Debian's Prometheus scraping the stack test's containers with deploy/prometheus's config and rules.

The scrape jobs, metric paths and rule files are the repository's; what differs is said here: the
targets are static (the containers' ports on the host network instead of compose's DNS names),
everything is scraped and evaluated every second, and each rule's ``for:`` is cut to a few seconds
so a fault fires its alert within the test (thresholds and windows are kept as written).
"""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import time
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import yaml
from stack_containers import ROOT
from support import free_port, wait_for

CONFIG = ROOT / "deploy/prometheus/prometheus.yml"
RULES = ROOT / "deploy/prometheus/rules"
DASHBOARD = ROOT / "deploy/grafana/dashboards/imagestudio.json"
#: Each rule's `for:` in the test (the real ones are minutes long).
TEST_FOR = "3s"
#: Grafana's variables as the dashboard's defaults resolve them (all studios).
GRAFANA_VARIABLES = {"$studio": ".*", "$__rate_interval": "1m"}


def prometheus_binary() -> str:
    found = shutil.which("prometheus")
    if found is None:
        subprocess.run(["bash", str(ROOT / "scripts/install-ops-tools.sh")], capture_output=True, timeout=600)
        found = shutil.which("prometheus")
    if found is None:
        raise AssertionError("prometheus is missing and scripts/install-ops-tools.sh could not install it")
    return found


def panel_queries() -> dict[str, list[str]]:
    """Dashboard panel title -> its target expressions, Grafana's variables resolved."""
    dashboard = json.loads(DASHBOARD.read_text())
    panels: dict[str, list[str]] = {}
    stack = list(dashboard["panels"])
    while stack:
        panel = stack.pop(0)
        stack.extend(panel.get("panels", []))
        exprs = [t["expr"] for t in panel.get("targets", []) if t.get("expr")]
        if exprs:
            panels[panel["title"]] = [resolve(e) for e in exprs]
    return panels


def resolve(expr: str) -> str:
    for name, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(name, value)
    return expr


class Prometheus:
    """A Prometheus server on loopback with the repository's scrape jobs pointed at ``targets``."""

    def __init__(self, workdir: Path, targets: dict[str, list[tuple[str, dict[str, str]]]]) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        repo = yaml.safe_load(CONFIG.read_text())
        rules_dir = workdir / "rules"
        rules_dir.mkdir(parents=True, exist_ok=True)
        for path in RULES.glob("*.yml"):
            text = re.sub(r"(?m)^(\s+for:\s*)\S+", rf"\g<1>{TEST_FOR}", path.read_text())
            (rules_dir / path.name).write_text(text)
        scrape_configs = []
        for job in repo["scrape_configs"]:
            if job["job_name"] not in targets:
                continue
            kept = {
                k: v
                for k, v in job.items()
                if k not in ("dns_sd_configs", "static_configs", "relabel_configs")
            }
            kept["static_configs"] = [
                {"targets": [t], "labels": labels} for t, labels in targets[job["job_name"]]
            ]
            scrape_configs.append(kept)
        self.jobs = {job["job_name"] for job in scrape_configs}
        config = {
            "global": {**repo["global"], "scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(rules_dir / "*.yml")],
            "scrape_configs": scrape_configs,
        }
        (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.log = (workdir / "prometheus.log").open("wb")
        self.proc = subprocess.Popen(
            [
                prometheus_binary(),
                f"--config.file={workdir / 'prometheus.yml'}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        wait_for(self.ready, timeout=60, interval=0.5, what="Prometheus to be ready")

    def ready(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError("prometheus exited:\n" + (self.workdir / "prometheus.log").read_text())
        try:
            return httpx.get(f"{self.url}/-/ready", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def api(self, path: str, **params: str) -> Any:
        response = httpx.get(f"{self.url}/api/v1/{path}", params=params, timeout=30)
        body = response.json()
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """The instant vector's samples whose value is a number (NaN from 0/0 is not data)."""
        result = self.api("query", query=expr)["result"]
        return [r for r in result if not math.isnan(float(r["value"][1]))]

    def query_range(self, expr: str, seconds: float) -> list[dict[str, Any]]:
        end = time.time()
        data = self.api("query_range", query=expr, start=str(end - seconds), end=str(end), step="2")
        return [r for r in data["result"] if any(not math.isnan(float(v)) for _, v in r["values"])]

    def alerts(
        self, alert: str, labels: Mapping[str, str] | None = None, *, states: tuple[str, ...] = ("firing",)
    ) -> list[dict[str, str]]:
        """The label sets of ``alert``'s instances in one of ``states`` whose labels include ``labels``."""
        wanted = dict(labels or {})
        return [
            a["labels"]
            for a in self.api("alerts")["alerts"]
            if a["labels"]["alertname"] == alert
            and a["state"] in states
            and all(a["labels"].get(k) == v for k, v in wanted.items())
        ]

    def firing(self) -> set[str]:
        return {a["labels"]["alertname"] for a in self.api("alerts")["alerts"] if a["state"] == "firing"}

    def active(self) -> set[str]:
        """Alerts pending or firing."""
        return {a["labels"]["alertname"] for a in self.api("alerts")["alerts"]}

    def targets_up(self) -> dict[str, bool]:
        active = self.api("targets")["activeTargets"]
        return {t["scrapeUrl"]: t["health"] == "up" for t in active}

    def last_scrapes(self) -> dict[str, float]:
        """Each target's last scrape time (Unix seconds)."""
        active = self.api("targets")["activeTargets"]
        return {t["scrapeUrl"]: datetime.fromisoformat(t["lastScrape"]).timestamp() for t in active}

    def rule_names(self) -> set[str]:
        groups = self.api("rules")["groups"]
        return {r["name"] for g in groups for r in g["rules"] if r["type"] == "alerting"}

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def render_panels(prometheus: Prometheus, seconds: float, out_dir: Path) -> list[Path]:
    """Each dashboard panel's queries over the last ``seconds``, drawn as Grafana's time series would be."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for title, exprs in panel_queries().items():
        fig, ax = plt.subplots(figsize=(7, 3), dpi=90)
        start = time.time() - seconds
        for expr in exprs:
            for series in prometheus.query_range(expr, seconds):
                points = [
                    (float(t) - start, float(v)) for t, v in series["values"] if not math.isnan(float(v))
                ]
                if not points:
                    continue
                label = ", ".join(f"{k}={v}" for k, v in sorted(series["metric"].items())) or expr[:40]
                ax.plot([p[0] for p in points], [p[1] for p in points], label=label[:60], linewidth=1.2)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("seconds into the stack test", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=6, loc="upper left", ncol=2)
        fig.tight_layout()
        path = out_dir / f"{slug(title)}.png"
        fig.savefig(path)
        plt.close(fig)
        written.append(path)
    return written
