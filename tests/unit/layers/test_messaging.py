"""Every actor a worker declares is named in ``imagestudio.messaging``, and every named actor exists."""

from __future__ import annotations

import importlib

from support import stub_broker

from imagestudio.messaging import JOB_ACTORS, POLL_ACTORS, RUN_JOB_ACTORS, WEBHOOKS_DELIVER, Studio

#: Every module that declares actors (imported once the stub broker is in place: actors bind at import).
_ACTOR_MODULES = (
    "create_worker.actors",
    "edit_worker.actors",
    "upscale_worker.actors",
    "social_worker.actors",
    "control_worker.actors",
    "compress_worker.actors",
    "imagestudio.webhooks.actors",
)


def _declared() -> dict[str, str]:
    """Actor name -> queue name, for every actor the workers' modules declared."""
    stub_broker()
    actors = [
        value
        for module in _ACTOR_MODULES
        for value in vars(importlib.import_module(module)).values()
        if hasattr(value, "actor_name") and hasattr(value, "queue_name")
    ]
    return {actor.actor_name: actor.queue_name for actor in actors}


def test_every_declared_actor_is_named_in_messaging_on_its_own_queue() -> None:
    named = {*RUN_JOB_ACTORS.values(), *POLL_ACTORS.values(), WEBHOOKS_DELIVER}

    declared = _declared()

    assert set(declared) == named
    for name, queue in declared.items():
        assert name.split(".")[0] == queue


def test_every_studio_queue_has_a_run_job_actor_and_job_actors_are_run_job_and_poll() -> None:
    assert set(RUN_JOB_ACTORS) == set(Studio)
    assert JOB_ACTORS == set(RUN_JOB_ACTORS.values()) | set(POLL_ACTORS.values())
    assert WEBHOOKS_DELIVER not in JOB_ACTORS
