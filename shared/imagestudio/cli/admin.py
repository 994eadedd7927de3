"""Operator commands of ``imagestudio``: migrations, keys, tenants, credits, uploads, assets, secrets.

Each runs in one transaction on a database at the latest migration (``admin_session``): the
embedded SQLite database is migrated on the spot, a PostgreSQL one must be migrated first.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.console import Console
from sqlalchemy.orm import Session

from imagestudio.config import get_settings

console = Console()
keys_app = typer.Typer(help="API keys.", no_args_is_help=True)
tenants_app = typer.Typer(help="Tenants.", no_args_is_help=True)
credits_app = typer.Typer(help="Credits (operators).", no_args_is_help=True)
uploads_app = typer.Typer(help="Uploads (operators).", no_args_is_help=True)
assets_app = typer.Typer(help="Assets, the jobs' outputs (operators).", no_args_is_help=True)
secrets_app = typer.Typer(help="Keys sealing stored secrets (operators).", no_args_is_help=True)
queues_app = typer.Typer(help="RabbitMQ queues (operators).", no_args_is_help=True)


def _require_schema() -> None:
    """Make sure the database is at the latest migration before an operator command touches it.

    The embedded database (SQLite in the data folder) is migrated on the spot, as ``up`` does;
    a PostgreSQL database is the operator's to migrate, so the command stops and says so.
    """
    from imagestudio.migrate import revisions, upgrade

    settings = get_settings()
    if settings.resolved_database_url.startswith("sqlite"):
        upgrade()
        return
    from sqlalchemy.exc import OperationalError

    try:
        current, head = revisions()
    except OperationalError as exc:
        console.print(f"[red]cannot reach the database[/red]: {exc.orig}", soft_wrap=True)
        raise typer.Exit(1) from None
    if current != head:
        console.print(
            f"[red]the database is not migrated[/red] (at {current or 'no migration'}, latest {head}): "
            "run `imagestudio migrate` (or `make migrate`) first",
            soft_wrap=True,
        )
        raise typer.Exit(1)


@contextmanager
def admin_session() -> Iterator[Session]:
    """A transaction for an operator command (keys, tenants, credits, uploads) on a current schema."""
    from imagestudio.db import session_scope

    _require_schema()
    with session_scope() as session:
        yield session


def migrate() -> None:
    """Apply database migrations (idempotent)."""
    from imagestudio.migrate import upgrade

    upgrade()
    console.print("[green]database is at the latest migration[/green]")


@keys_app.command("create")
def keys_create(
    tenant: Annotated[str | None, typer.Option(help="Name of a new tenant to create the key for")] = None,
    tenant_id: Annotated[str | None, typer.Option(help="Existing tenant id")] = None,
    name: Annotated[str, typer.Option(help="A label for the key")] = "",
    tier: Annotated[str, typer.Option(help="Tier of a new tenant: free, basic, pro, enterprise")] = "free",
) -> None:
    """Create an API key (and a tenant when --tenant is given); the key is shown once."""
    from imagestudio.tenants.service import tenant_service

    if bool(tenant) == bool(tenant_id):
        raise typer.BadParameter("give exactly one of --tenant or --tenant-id")
    with admin_session() as session:
        if tenant:
            tenant_id = tenant_service.create_tenant(session, name=tenant, tier=tier).id
        assert tenant_id is not None
        created = tenant_service.create_key(session, tenant_id=tenant_id, name=name)
    console.print(f"tenant: {created.tenant_id}")
    console.print(f"key id: {created.key_id}")
    console.print(f"key:    [yellow]{created.key}[/yellow]")
    console.print("[dim]Store it now: only its hash is kept.[/dim]")


@keys_app.command("revoke")
def keys_revoke(
    key: Annotated[str, typer.Argument(help="The key's id, or its prefix as listed (isk_ and 8 characters)")],
) -> None:
    """Revoke an API key: refused from now on here, by running gateways within IMAGESTUDIO_AUTH_CACHE_SECONDS."""
    from imagestudio.errors import ImageStudioError
    from imagestudio.tenants.service import tenant_service

    try:
        with admin_session() as session:
            row = tenant_service.revoke_key(session, key=key)
            key_id, prefix, revoked_at = row.id, row.prefix, row.revoked_at
    except ImageStudioError as exc:
        raise typer.BadParameter(str(exc), param_hint="key") from exc
    console.print(f"key {key_id} ({prefix}…) revoked at {revoked_at:%Y-%m-%d %H:%M:%S} UTC")


@tenants_app.command("set-limits")
def tenants_set_limits(
    tenant_id: Annotated[str, typer.Argument(help="Tenant id")],
    requests_per_minute: Annotated[
        int | None, typer.Option(min=1, help="Job submissions per minute, instead of the tier's")
    ] = None,
    max_concurrent_jobs: Annotated[
        int | None, typer.Option(min=1, help="Jobs queued or running at once, instead of the tier's")
    ] = None,
    max_stored_bytes: Annotated[
        int | None,
        typer.Option(min=0, help="Bytes of uploads and outputs kept stored, instead of the tier's"),
    ] = None,
    clear: Annotated[
        bool, typer.Option("--clear", help="Drop every override: the tier's limits apply")
    ] = False,
) -> None:
    """Override a tenant's tier limits (negotiated plans); prints the limits now in force."""
    from imagestudio.errors import ImageStudioError
    from imagestudio.tenants.service import tenant_service

    given = (requests_per_minute, max_concurrent_jobs, max_stored_bytes)
    if clear == any(value is not None for value in given):
        raise typer.BadParameter(
            "give --requests-per-minute, --max-concurrent-jobs and/or --max-stored-bytes, or --clear alone"
        )
    try:
        with admin_session() as session:
            limits = tenant_service.set_limits(
                session,
                tenant_id=tenant_id,
                requests_per_minute=requests_per_minute,
                max_concurrent_jobs=max_concurrent_jobs,
                max_stored_bytes=max_stored_bytes,
                clear=clear,
            )
    except ImageStudioError as exc:
        raise typer.BadParameter(str(exc), param_hint="tenant_id") from exc
    tier = limits.tier
    console.print(
        f"tenant {tenant_id} ({tier.name} tier): "
        f"{limits.requests_per_minute} requests/minute (tier: {tier.requests_per_minute}), "
        f"{limits.max_concurrent_jobs} concurrent jobs (tier: {tier.max_concurrent_jobs}), "
        f"{limits.max_stored_bytes} stored bytes (tier: {tier.max_stored_bytes})"
    )


@tenants_app.command("set-tier")
def tenants_set_tier(
    tenant_id: Annotated[str, typer.Argument(help="Tenant id")],
    tier: Annotated[str, typer.Argument(help="free, basic, pro or enterprise")],
) -> None:
    """Move a tenant to another tier; running gateways apply it within IMAGESTUDIO_AUTH_CACHE_SECONDS."""
    from imagestudio.credits.tiers import TierName
    from imagestudio.tenants.models import Tenant

    with admin_session() as session:
        tenant = session.get(Tenant, tenant_id)
        if tenant is None:
            raise typer.BadParameter("no such tenant", param_hint="tenant_id")
        tenant.tier = TierName(tier).value
    console.print(f"tenant {tenant_id} is now on the {tier} tier")


@credits_app.command("grant")
def credits_grant(
    tenant_id: Annotated[str, typer.Argument(help="Tenant id")],
    amount: Annotated[int, typer.Argument(help="Credits to add (negative: an adjustment)")],
    note: Annotated[str, typer.Option(help="Why, for the ledger")] = "",
) -> None:
    """Grant (or adjust) a tenant's credits; written to the ledger."""
    from imagestudio.credits.models import EntryKind
    from imagestudio.credits.service import credit_service

    with admin_session() as session:
        kind = EntryKind.grant if amount >= 0 else EntryKind.adjust
        credit_service.grant(session, tenant_id=tenant_id, amount=amount, note=note, kind=kind)
        balance = credit_service.balance(session, tenant_id=tenant_id)
    console.print(f"balance {balance.balance}, reserved {balance.reserved}, available {balance.available}")


@uploads_app.command("sweep")
def uploads_sweep() -> None:
    """Delete expired uploads and their objects now (each gateway also sweeps every few minutes)."""
    from imagestudio.uploads.service import upload_service

    with admin_session() as session:
        deleted = upload_service.sweep(session)
    console.print(f"deleted {deleted} expired upload(s)")


@assets_app.command("sweep")
def assets_sweep() -> None:
    """Delete assets past IMAGESTUDIO_ASSET_RETENTION_SECONDS and their objects now (each gateway also
    sweeps every few minutes); favourites and the outputs of unfinished jobs are kept."""
    from imagestudio.assets.sweeper import sweep_expired_assets

    with admin_session() as session:
        deleted = sweep_expired_assets(session)
    console.print(f"deleted {deleted} expired asset(s)")


@secrets_app.command("new-key")
def secrets_new_key() -> None:
    """Print a new Fernet key: put it first in IMAGESTUDIO_SECRETS_KEYS, then run `secrets rotate`."""
    from cryptography.fernet import Fernet

    typer.echo(Fernet.generate_key().decode())


@secrets_app.command("rotate")
def secrets_rotate() -> None:
    """Seal every stored secret with the first of IMAGESTUDIO_SECRETS_KEYS (old keys may then go)."""
    from imagestudio.db import session_scope
    from imagestudio.webhooks.service import webhook_service

    with session_scope() as session:
        count = webhook_service.endpoints.reseal_secrets(session)
    console.print(f"re-sealed the secrets of {count} row(s) with the first key")


@queues_app.command("upgrade")
def queues_upgrade() -> None:
    """Re-create the RabbitMQ queues an older version declared without priorities (x-max-priority),
    then stage again the messages of those studios' queued jobs. Stop the workers first."""
    from imagestudio.broker import upgrade_queues
    from imagestudio.jobs.service import job_service
    from imagestudio.messaging import Studio

    settings = get_settings()
    if settings.embedded_broker:
        console.print("embedded broker: its queues live in the process, nothing to upgrade")
        return
    recreated = upgrade_queues(settings)
    studios = sorted({name.split(".")[0] for name in recreated} & set(Studio))
    with admin_session() as session:
        staged = job_service.requeue_queued(session, studios=studios) if studios else 0
    console.print(f"re-created {len(recreated)} queue(s) {recreated}; staged {staged} queued job(s) again")
