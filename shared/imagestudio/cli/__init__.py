"""The ``imagestudio`` command: run the system, operate it, and submit jobs as a client.

``run.py`` runs the gateway, a worker, the relay and the sweeper; ``admin.py`` holds the
operators' commands (migrations, keys, tenants, credits, uploads, assets, secrets, queues);
``client.py`` talks to a running gateway (``social``, ``jobs``); ``deploy.py`` writes each studio's
deployment files from the studio registry (``deploy render``).
"""

from __future__ import annotations

import typer

import imagestudio.models  # noqa: F401  (every table registered before the first session)
from imagestudio.cli.admin import (
    assets_app,
    credits_app,
    keys_app,
    migrate,
    queues_app,
    secrets_app,
    tenants_app,
    uploads_app,
)
from imagestudio.cli.client import jobs_app, social_app
from imagestudio.cli.deploy import deploy_app
from imagestudio.cli.providers import providers_app
from imagestudio.cli.run import openapi, relay, sweep, up, worker

__all__ = ["app"]

app = typer.Typer(help="Image Studio: asynchronous image jobs.", no_args_is_help=True)
#: The command groups, by name, in the order ``--help`` lists them.
_GROUPS: dict[str, typer.Typer] = {
    "keys": keys_app,
    "tenants": tenants_app,
    "credits": credits_app,
    "uploads": uploads_app,
    "assets": assets_app,
    "secrets": secrets_app,
    "queues": queues_app,
    "social": social_app,
    "jobs": jobs_app,
    "providers": providers_app,
    "deploy": deploy_app,
}
for group_name, group in _GROUPS.items():
    app.add_typer(group, name=group_name)
for command in (migrate, openapi, up, worker, relay, sweep):
    app.command()(command)
