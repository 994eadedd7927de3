"""The gateway pod's /tmp holds every multipart body the gateway may receive at once, with room to spare.

Forms spool their files to /tmp, held to ``max_form_bytes_in_flight`` bytes at once per gateway
process (one per pod); kubelet evicts a pod whose emptyDir passes its sizeLimit, so the sizeLimit
is that cap plus one more form's limit (docs/capacity.md, "Gateway temporary disk").
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from deploy_support import ROOT

from imagestudio.config import Settings

GATEWAY = ROOT / "deploy/k8s/base/gateway.yaml"
CONFIGMAP = ROOT / "deploy/k8s/base/configmap.yaml"
UNITS = {"Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "": 1}


def quantity_bytes(quantity: str) -> int:
    match = re.fullmatch(r"(\d+)(Ki|Mi|Gi|)", quantity)
    assert match, f"unexpected quantity {quantity!r}"
    return int(match[1]) * UNITS[match[2]]


def deployed_setting(name: str) -> int:
    """The setting as the gateway pod runs it: the ConfigMap's value, else the default."""
    [configmap] = [d for d in yaml.safe_load_all(CONFIGMAP.read_text()) if d]
    value: Any = configmap["data"].get(f"IMAGESTUDIO_{name.upper()}", Settings.model_fields[name].default)
    return int(value)


def tmp_size_limit() -> int:
    [deployment] = [d for d in yaml.safe_load_all(GATEWAY.read_text()) if d and d["kind"] == "Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    [container] = pod["containers"]
    [mount] = [m for m in container["volumeMounts"] if m["mountPath"] == "/tmp"]
    [volume] = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    return quantity_bytes(volume["emptyDir"]["sizeLimit"])


def test_the_gateway_tmp_holds_the_forms_in_flight_plus_one_form() -> None:
    in_flight = deployed_setting("max_form_bytes_in_flight")
    per_form = deployed_setting("max_form_request_bytes")
    assert per_form <= deployed_setting("max_form_bytes_in_flight_per_tenant") <= in_flight
    assert tmp_size_limit() >= in_flight + per_form, (
        f"/tmp sizeLimit {tmp_size_limit()} < {in_flight} bytes of forms in flight + one {per_form} byte form"
    )


def test_capacity_doc_states_the_relation_with_the_deployed_figures() -> None:
    text = (ROOT / "docs/capacity.md").read_text()
    section = text[text.index("## Gateway temporary disk") :]
    mib = 1024**2
    for figure in (
        f"{deployed_setting('max_form_bytes_in_flight') // mib} MiB",
        f"{deployed_setting('max_form_request_bytes') // mib} MiB",
        f"{tmp_size_limit() // mib} Mi",
        "MAX_FORM_BYTES_IN_FLIGHT",
        "MAX_FORM_BYTES_IN_FLIGHT_PER_TENANT",
    ):
        assert figure in section, figure
