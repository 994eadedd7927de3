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
app.add_typer(keys_app, name="keys")
app.add_typer(tenants_app, name="tenants")
app.add_typer(credits_app, name="credits")
app.add_typer(uploads_app, name="uploads")
app.add_typer(assets_app, name="assets")
app.add_typer(secrets_app, name="secrets")
app.add_typer(queues_app, name="queues")
app.add_typer(queues_app, name="queues")
app.add_typer(social_app, name="social")
app.add_typer(jobs_app, name="jobs")
app.add_typer(providers_app, name="providers")
app.add_typer(deploy_app, name="deploy")
for command in (migrate, openapi, up, worker, relay, sweep):
    app.command()(command)
