"""Every actor a worker declares is named in ``imagestudio.messaging``, and every named actor exists."""

from __future__ import annotations

import importlib

from support import stub_broker

from imagestudio.messaging import (
    JOB_ACTORS,
    POLL_ACTORS,
    POLLING_STUDIOS,
    RUN_JOB_ACTORS,
    WEBHOOKS_DELIVER,
    Studio,
)
from imagestudio.studio_worker import declare_actors


def _declared() -> dict[str, str]:
    """Actor name -> queue name, for every actor the workers declare (once the stub broker is in place)."""
    stub_broker()
    webhooks = vars(importlib.import_module("imagestudio.webhooks.actors")).values()
    studios = [declare_actors(studio) for studio in Studio]
    actors = [
        *(value for value in webhooks if hasattr(value, "actor_name") and hasattr(value, "queue_name")),
        *(a.run_job for a in studios),
        *(a.poll for a in studios if a.poll is not None),
    ]
    return {actor.actor_name: actor.queue_name for actor in actors}  # type: ignore[attr-defined]


def test_every_declared_actor_is_named_in_messaging_on_its_own_queue() -> None:
    named = {*RUN_JOB_ACTORS.values(), *POLL_ACTORS.values(), WEBHOOKS_DELIVER}

    declared = _declared()

    assert set(declared) == named
    for name, queue in declared.items():
        assert name.split(".")[0] == queue


def test_a_studio_polls_exactly_when_its_face_has_poll() -> None:
    assert set(POLLING_STUDIOS) == {Studio.edit, Studio.upscale, Studio.control}
    assert all(declare_actors(studio).poll is not None for studio in POLLING_STUDIOS)
    assert all(declare_actors(studio).poll is None for studio in set(Studio) - set(POLLING_STUDIOS))


def test_every_studio_queue_has_a_run_job_actor_and_job_actors_are_run_job_and_poll() -> None:
    assert set(RUN_JOB_ACTORS) == set(Studio)
    assert JOB_ACTORS == set(RUN_JOB_ACTORS.values()) | set(POLL_ACTORS.values())
    assert WEBHOOKS_DELIVER not in JOB_ACTORS
