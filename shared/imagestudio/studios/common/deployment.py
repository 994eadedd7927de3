"""How a studio's worker is deployed, beyond what the memory model derives: CPU and scaling.

A studio's face (``studios/<name>/__init__.py``) may set ``WORKER = WorkerDeployment(...)``; one that
does not gets :data:`DEFAULT_WORKER`. ``imagestudio deploy render`` writes each studio's worker
package, compose service and Kubernetes manifests from it; the memory request, limit and threads come
from :mod:`imagestudio.studios.memory`, never from here, so they cannot disagree with the model.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class WorkerDeployment:
    """One studio worker's pod and scaling figures (Kubernetes quantities as written in a manifest)."""

    #: CPU the scheduler reserves per pod.
    cpu_request: str = "500m"
    #: CPU a pod may burst to.
    cpu_limit: str = "2"
    #: KEDA's ceiling on replicas.
    max_replicas: int = 10
    #: Ready messages per replica KEDA aims for (its ``QueueLength`` target).
    queue_length: int = 10
    #: Groups (extras) of the shared package the worker's image installs (``cutout``).
    extras: tuple[str, ...] = ()


#: A studio that names no figures of its own: one that mostly waits on a provider or encodes locally.
DEFAULT_WORKER = WorkerDeployment()
