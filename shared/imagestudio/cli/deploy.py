"""``imagestudio deploy render``: every per-studio file, written from the studio registry.

A studio is one folder under ``studios/`` and one line in :data:`imagestudio.studios.registry.STUDIOS`.
What follows from that line is written here, never by hand: the studio names in
``imagestudio/messaging.py`` (the leaf the lower layers read, so they never import a studio), the
worker package ``services/<studio>-worker`` (its image's dependencies and a one-call ``main``), its
docker-compose service, its Kubernetes Deployment, metrics Service, PodDisruptionBudget and KEDA
ScaledObject, the kustomization and dev overlay entries, Prometheus's scrape list, and the web
console's list of studios (``studios.js``) and its nav. Sizes come from
the memory model (:mod:`imagestudio.studios.memory`) and the face's ``WORKER`` figures.

``--check`` writes nothing and fails, naming the files, while a committed file differs from what it
would write (``tests/unit/deploy/test_deploy_render.py`` runs it). Files shared with hand-written
parts are rewritten only between their ``>>> studios`` and ``<<< studios`` marker lines.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from string import Template
from typing import Annotated

import typer

from imagestudio.config import Settings

# The studios are imported inside the functions that read them: every other command (``keys create``
# on a busy machine) starts without loading every studio's imaging and provider modules.
deploy_app = typer.Typer(help="Deployment files (contributors).", no_args_is_help=True)

#: The marker lines' words: a block starts on the line holding ``>>> studios``, ends on ``<<< studios``.
BEGIN, END = ">>> studios", "<<< studios"
#: Files with a generated block, the rest of them hand-written.
BLOCK_FILES = (
    "shared/imagestudio/messaging.py",
    "docker-compose.yml",
    "deploy/k8s/base/kustomization.yaml",
    "deploy/k8s/overlays/dev/kustomization.yaml",
    "deploy/prometheus/prometheus.yml",
    "services/gateway/gateway/console/static/index.html",
)
#: The console's list of studios and their routes (its pages, "run again", "use in", the filters).
CONSOLE_STUDIOS = "services/gateway/gateway/console/static/studios.js"
_MI = 1024**2
_NOTE = "Written by `imagestudio deploy render` from the studio registry: edit the studio, not this file."

#: One studio's worker on Kubernetes: Deployment, headless metrics Service, PodDisruptionBudget and
#: KEDA ScaledObject (on the studio's own queue).
_K8S_WORKER = Template("""# $note
# The $name studio's worker: consumes queue `$name`; KEDA scales it on that queue's length.
# SIGTERM lets running jobs finish (up to the 600 s job time limit); a killed pod's unacked
# message is redelivered to another replica.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: $name-worker
  labels:
    app.kubernetes.io/name: $name-worker
    app.kubernetes.io/component: worker
spec:
  replicas: 1
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      app.kubernetes.io/name: $name-worker
  template:
    metadata:
      labels:
        app.kubernetes.io/name: $name-worker
        app.kubernetes.io/component: worker
      annotations:
        prometheus.io/scrape: "true"
        prometheus.io/port: "9191"
        prometheus.io/path: /metrics
    spec:
      serviceAccountName: imagestudio
      automountServiceAccountToken: false
      terminationGracePeriodSeconds: 630
      securityContext:
        runAsNonRoot: true
        runAsUser: 10001
        runAsGroup: 10001
        fsGroup: 10001
        seccompProfile:
          type: RuntimeDefault
      containers:
        - name: worker
          image: imagestudio/$name-worker:latest
          command: ["imagestudio", "worker", "$name"]
          ports:
            - name: metrics
              containerPort: 9191
          envFrom:
            - configMapRef:
                name: imagestudio-config
            - secretRef:
                name: imagestudio-secrets
          env:
            # Memory and threads from the memory model (docs/capacity.md, "Memory per job");
            # tests/unit/deploy/test_worker_memory.py fails when they disagree.
            - name: IMAGESTUDIO_WORKER_THREADS
              value: "$threads"
          livenessProbe:
            httpGet: {path: /healthz, port: metrics}
            initialDelaySeconds: 10
            periodSeconds: 15
            timeoutSeconds: 3
            failureThreshold: 3
          readinessProbe:
            httpGet: {path: /healthz, port: metrics}
            periodSeconds: 10
            timeoutSeconds: 3
          resources:
            requests: {cpu: $cpu_request, memory: $memory_request}
            limits: {cpu: "$cpu_limit", memory: $memory_limit}
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities:
              drop: [ALL]
          volumeMounts:
            - name: tmp
              mountPath: /tmp
      volumes:
        - name: tmp
          emptyDir:
            sizeLimit: 1Gi
---
# Headless: Prometheus (or a ServiceMonitor) finds every replica's metrics port through it.
apiVersion: v1
kind: Service
metadata:
  name: $name-worker-metrics
  labels:
    app.kubernetes.io/name: $name-worker
spec:
  clusterIP: None
  selector:
    app.kubernetes.io/name: $name-worker
  ports:
    - name: metrics
      port: 9191
      targetPort: metrics
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: $name-worker
spec:
  maxUnavailable: 1
  selector:
    matchLabels:
      app.kubernetes.io/name: $name-worker
---
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata:
  name: $name-worker
spec:
  scaleTargetRef:
    name: $name-worker
  minReplicaCount: 1
  maxReplicaCount: $max_replicas
  pollingInterval: 15
  cooldownPeriod: 300
  triggers:
    - type: rabbitmq
      metadata:
        protocol: amqp
        queueName: $name
        mode: QueueLength
        value: "$queue_length"
      authenticationRef:
        name: imagestudio-rabbitmq
""")


class RenderError(Exception):
    """Raised when a file the render rewrites a block of has lost its markers."""


def _settings(root: Path) -> Settings:
    """The settings a worker pod reads from the base ConfigMap (only what the memory model uses)."""
    # ``KEY: "value"`` lines (the shared package reads no YAML library; the deploy tests parse it whole).
    text = (root / "deploy/k8s/base/configmap.yaml").read_text()
    data = dict(re.findall(r'^\s+(IMAGESTUDIO_\w+):\s*"?([^"\n]*)"?\s*$', text, flags=re.MULTILINE))
    names = ("worker_memory_bytes", "worker_threads", "max_image_pixels")
    given = {n: data[f"IMAGESTUDIO_{n.upper()}"] for n in names if f"IMAGESTUDIO_{n.upper()}" in data}
    # Pods run distributed (the broker URL comes from the Secret): the per-worker thread counts apply.
    return Settings.model_validate({"broker_url": "amqp://guest:guest@rabbitmq:5672/", **given})


def _messaging(names: list[str]) -> str:
    from imagestudio.studios.registry import free, polls

    members = "".join(f'    {n} = "{n}"\n' for n in names)
    return (
        "class Studio(StrEnum):\n"
        '    """The studio a job belongs to: the kind of work it does."""\n\n'
        f"{members}\n\n"
        "#: Studios whose provider work may be asynchronous, finished by a ``<studio>.poll`` chain.\n"
        f"POLLING_STUDIOS: tuple[Studio, ...] = {_tuple(n for n in names if polls(n))}\n"
        "#: Studios the free tier may use (the face's ``FREE_TIER``).\n"
        f"FREE_STUDIOS: tuple[Studio, ...] = {_tuple(n for n in names if free(n))}\n"
    )


def _tuple(names: Iterable[str]) -> str:
    """A tuple of ``Studio`` members as Python writes it."""
    members = [f"Studio.{n}" for n in names]
    return "(" + ", ".join(members) + ("," if len(members) == 1 else "") + ")"


def _console_studios() -> str:
    """Every registry route as the console reads it: name, studio, ``POST`` path, image fields."""
    from imagestudio.studios.registry import STUDIOS

    entries = "".join(
        f"  {{ name: {json.dumps(name)}, studio: {json.dumps(face.name)}, title: {json.dumps(name.capitalize())}, "
        f"path: {json.dumps(face.ROUTE.path)}, images: {json.dumps(list(face.Request.image_fields))} }},\n"
        for name, face in STUDIOS.items()
    )
    return (
        f"// {_NOTE}\n"
        "/** Every route a job is submitted by (a studio, or a second route of one): its studio, its title, its\n"
        " * path and the request's image fields (the job's inputs under the same names). */\n"
        f"export const STUDIOS = [\n{entries}];\n"
        "\n/** The studios themselves (each a page of the console), in the registry's order. */\n"
        "export const STUDIO_PAGES = STUDIOS.filter((s) => s.name === s.studio);\n"
    )


def _compose(names: list[str]) -> str:
    return "\n".join(
        f"  {n}-worker:\n"
        "    <<: *imagestudio-service\n"
        f"    image: imagestudio/{n}-worker:latest\n"
        f"    build: {{context: ., dockerfile: deploy/docker/Dockerfile, target: worker, args: {{STUDIO: {n}}}}}\n"
        f'    command: ["imagestudio", "worker", "{n}"]\n'
        "    environment: *worker-env\n"
        "    depends_on: *worker-depends\n"
        "    healthcheck: *worker-healthcheck\n"
        "    stop_grace_period: 11m  # running jobs finish (time limit 600 s) before the worker exits\n"
        for n in names
    )


def _k8s_worker(name: str, settings: Settings) -> str:
    from imagestudio.studios import memory
    from imagestudio.studios.registry import worker_of

    spec = worker_of(name)
    request, limit = memory.pod_memory(name, settings)
    threads = memory.worker_threads(name, settings)
    return _K8S_WORKER.substitute(
        note=_NOTE,
        name=name,
        threads=threads,
        cpu_request=spec.cpu_request,
        cpu_limit=spec.cpu_limit,
        memory_request=f"{request // _MI}Mi",
        memory_limit=f"{limit // _MI}Mi",
        max_replicas=spec.max_replicas,
        queue_length=spec.queue_length,
    )


def _worker_package(name: str) -> dict[str, str]:
    from imagestudio.studios.registry import worker_of

    extras = worker_of(name).extras
    dependency = f"imagestudio[{','.join(extras)}]" if extras else "imagestudio"
    package = f"services/{name}-worker"
    return {
        f"{package}/pyproject.toml": (
            f"# {_NOTE}\n"
            '[build-system]\nrequires = ["setuptools>=69"]\nbuild-backend = "setuptools.build_meta"\n\n'
            f'[project]\nname = "imagestudio-{name}-worker"\nversion = "0.1.0"\n'
            f'requires-python = ">=3.11"\ndependencies = ["{dependency}"]\n\n'
            f'[tool.setuptools.packages.find]\ninclude = ["{name}_worker*"]\n'
        ),
        f"{package}/{name}_worker/__init__.py": (
            f'"""The {name} studio\'s Dramatiq worker (queue `{name}`): its image holds this package\'s dependencies.\n\n'
            f"{_NOTE}\n"
            '"""\n'
        ),
        f"{package}/{name}_worker/main.py": (
            f'"""Entry point: the broker configured, the {name} studio\'s actors declared on it (the call ``imagestudio worker {name}`` makes).\n\n'
            f"{_NOTE}\n"
            '"""\n\n'
            "from imagestudio.messaging import Studio\n"
            "from imagestudio.studio_worker import run_studio_worker\n\n"
            f"QUEUES = run_studio_worker(Studio.{name})\n"
        ),
    }


def _replace_block(text: str, body: str, where: str) -> str:
    """``text`` with the lines between its marker lines replaced by ``body``."""
    lines = text.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if BEGIN in line]
    ends = [i for i, line in enumerate(lines) if END in line]
    if len(starts) != 1 or len(ends) != 1 or ends[0] < starts[0]:
        raise RenderError(f"{where}: needs one '{BEGIN}' line, then one '{END}' line")
    return "".join([*lines[: starts[0] + 1], body, *lines[ends[0] :]])


def render(root: Path) -> dict[str, str]:
    """Every generated file's path (relative to ``root``) and the text it should hold."""
    from imagestudio.studios.registry import studio_names

    names = studio_names()
    settings = _settings(root)
    blocks = {
        "shared/imagestudio/messaging.py": _messaging(names),
        "docker-compose.yml": _compose(names),
        "deploy/k8s/base/kustomization.yaml": "".join(f"  - workers/{n}.yaml\n" for n in names),
        "deploy/k8s/overlays/dev/kustomization.yaml": "".join(
            f"  - name: imagestudio/{n}-worker\n    newTag: dev\n" for n in names
        ),
        "deploy/prometheus/prometheus.yml": (
            f"      - names: [{', '.join(f'{n}-worker' for n in (*names, 'webhooks'))}]\n"
        ),
        # The console's nav: a page per studio, between the dashboard and the jobs.
        "services/gateway/gateway/console/static/index.html": "".join(
            f'    <a href="#/{n}">{n.capitalize()}</a>\n' for n in names
        ),
    }
    files = {path: _replace_block((root / path).read_text(), body, path) for path, body in blocks.items()}
    files[CONSOLE_STUDIOS] = _console_studios()
    for name in names:
        files[f"deploy/k8s/base/workers/{name}.yaml"] = _k8s_worker(name, settings)
        files.update(_worker_package(name))
    return files


def _strays(root: Path, wanted: Iterable[str]) -> list[str]:
    """Generated kinds of file no studio accounts for (a studio taken out of the registry)."""
    found = [
        *root.glob("services/*-worker/pyproject.toml"),
        *root.glob("services/*-worker/*_worker/*.py"),
        *(p for p in root.glob("deploy/k8s/base/workers/*.yaml") if p.name != "webhooks.yaml"),
    ]
    return sorted({str(p.relative_to(root)) for p in found} - set(wanted))


def differences(root: Path) -> list[str]:
    """The files whose committed text is not what :func:`render` writes, and the strays."""
    wanted = render(root)
    stale = [p for p, text in wanted.items() if not (root / p).is_file() or (root / p).read_text() != text]
    return sorted(stale + _strays(root, wanted))


def write(root: Path) -> list[str]:
    """Write every generated file that differs, remove the strays; the paths changed."""
    wanted = render(root)
    changed = differences(root)
    for path in changed:
        target = root / path
        if path in wanted:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(wanted[path])
        else:
            target.unlink()
    return changed


@deploy_app.command("render")
def render_command(
    check: Annotated[
        bool, typer.Option("--check", help="Write nothing; fail if a committed file differs.")
    ] = False,
    root: Annotated[Path, typer.Option(help="The repository's root.")] = Path("."),
) -> None:
    """Write each studio's worker package, compose service and Kubernetes manifests from the registry."""
    if check:
        stale = differences(root)
        if stale:
            typer.echo("out of date (run `imagestudio deploy render`):\n  " + "\n  ".join(stale), err=True)
            raise typer.Exit(1)
        typer.echo(f"{len(render(root))} generated files match the studio registry")
        return
    changed = write(root)
    typer.echo("\n".join(changed) if changed else "nothing to change")
