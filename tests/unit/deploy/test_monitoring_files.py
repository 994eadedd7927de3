"""The Grafana dashboard and the Prometheus rules query only metrics the services export, and
promtool accepts (and unit-tests) the rules and the scrape config."""

from __future__ import annotations

import json
import shutil
import subprocess

import httpx
import yaml
from deploy_support import ops_tool
from monitoring_support import (
    DASHBOARD,
    ROOT,
    RULES,
    dashboard_queries,
    exported_names,
    promql_metric_names,
    queried_metric_names,
    rule_queries,
)
from support import Embedded, make_image

from imagestudio.telemetry.metrics import start_metrics_server

PROMETHEUS_DIR = ROOT / "deploy/prometheus"


def promtool() -> str:
    """promtool from Debian's prometheus package, installed by the project's script when missing."""
    return ops_tool("promtool", lambda: shutil.which("promtool"))


def run_job_and_scrape(embedded: Embedded) -> tuple[str, str]:
    """One social job through the embedded stack; the gateway's and a worker endpoint's /metrics."""
    key = embedded.new_key()
    response = embedded.client.post(
        "/api/image-studio/social/optimize",
        headers={"Authorization": f"Bearer {key}"},
        files={"image": ("a.png", make_image(320, 240), "image/png")},
        data={"formats": "instagram.feed_square"},
    )
    assert response.status_code == 202, response.text
    embedded.start_worker()
    assert embedded.wait_job(key, response.json()["id"])["status"] == "succeeded"
    gateway = embedded.client.get("/metrics")
    assert gateway.status_code == 200
    server = start_metrics_server(0)  # the endpoint `imagestudio worker` serves
    assert server is not None
    try:
        worker = httpx.get(f"http://127.0.0.1:{server.port}/metrics", timeout=5)
        assert worker.status_code == 200
    finally:
        server.stop()
    return gateway.text, worker.text


def test_promql_names_are_extracted_without_functions_labels_or_numbers() -> None:
    expr = 'histogram_quantile(0.95, sum by (le, route) (rate(a_bucket{s=~"x|y"}[5m]))) > 1e3 and on(q) b offset 15m'
    assert promql_metric_names(expr) == {"a_bucket", "b"}
    assert promql_metric_names('max by (queue) (delta(c{state="dead_letter"}[15m])) > 0') == {"c"}


def test_dashboard_and_rules_query_only_exported_metrics(embedded: Embedded) -> None:
    gateway, worker = run_job_and_scrape(embedded)
    exported = exported_names(gateway) | exported_names(worker)
    queried = queried_metric_names()
    assert len(queried) >= 20, queried
    missing = sorted(queried - exported)
    assert not missing, f"queried but not exported: {missing}"
    # Queue depth and age come from the gateway's scrape-time collector.
    assert {"imagestudio_queue_messages", "imagestudio_queue_oldest_job_age_seconds"} <= exported_names(
        gateway
    )


def test_dashboard_covers_every_area_with_described_panels() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    rows = [p["title"] for p in dashboard["panels"] if p["type"] == "row"]
    assert rows == [
        "Throughput and errors per studio",
        "Job time",
        "Queues",
        "Providers",
        "Webhooks and credits",
    ]
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    assert all(p["description"] and p["targets"] for p in panels)
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])
    assert {p["datasource"]["uid"] for p in panels} == {"imagestudio-prometheus"}
    joined = "\n".join(dashboard_queries())
    for quantile in ("0.5", "0.95", "0.99"):
        assert (
            f"histogram_quantile({quantile}, sum by (le, studio) (rate(imagestudio_job_duration_seconds_bucket"
            in joined
        )
    datasource = yaml.safe_load((ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text())
    assert datasource["datasources"][0]["uid"] == "imagestudio-prometheus"
    provider = yaml.safe_load((ROOT / "deploy/grafana/provisioning/dashboards/imagestudio.yml").read_text())
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"


def test_alert_rules_cover_the_operator_promises() -> None:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    alerts = {rule["alert"]: rule for group in groups for rule in group["rules"]}
    assert {
        "ImageStudioDeadLetterGrowing",
        "ImageStudioQueueStalled",
        "ImageStudioJobErrorRate",
        "ImageStudioProviderCircuitOpen",
        "ImageStudioWebhookFailureRate",
    } <= set(alerts)
    for name, rule in alerts.items():
        assert rule["labels"]["severity"] in {"warning", "critical"}, name
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], name
    assert all(promql_metric_names(expr) for expr in rule_queries())


def test_promtool_accepts_rules_and_config() -> None:
    tool = promtool()
    for args in (["check", "rules", str(RULES)], ["check", "config", str(PROMETHEUS_DIR / "prometheus.yml")]):
        result = subprocess.run([tool, *args], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_rule_unit_tests_pass() -> None:
    tests = sorted(str(p) for p in (PROMETHEUS_DIR / "tests").glob("*.yml"))
    assert tests
    result = subprocess.run(
        [promtool(), "test", "rules", *tests], capture_output=True, text=True, timeout=120, cwd=PROMETHEUS_DIR
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_operator_guide_describes_every_panel_alert_and_telemetry_setting() -> None:
    guide = (ROOT / "docs" / "operating.md").read_text()
    settings = (ROOT / "docs" / "settings.md").read_text()
    dashboard = json.loads(DASHBOARD.read_text())
    panels = [p["title"] for p in dashboard["panels"]]
    alerts = [r["alert"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]
    missing = [title for title in panels if title not in guide] + [a for a in alerts if f"`{a}`" not in guide]
    assert not missing, missing
    for setting in ("METRICS_PORT", "TRACES_EXPORTER", "OTLP_ENDPOINT"):
        assert f"| `{setting}` |" in settings and f"`{setting}`" in guide
