"""``imagestudio providers``: operators' commands about the image providers (``check``)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from imagestudio.providers.check import check_models
from imagestudio.providers.health import shared_store

providers_app = typer.Typer(help="Image providers (operators).", no_args_is_help=True)
console = Console()

_COLOURS = {"served": "green", "refused": "red", "gone": "red", "unavailable": "yellow"}


@providers_app.command("check")
def providers_check(
    provider: Annotated[list[str] | None, typer.Option(help="Only these providers (repeatable).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per model.")] = False,
    mark: Annotated[
        bool, typer.Option(help="Mark gone models in provider health so plans leave them out.")
    ] = True,
) -> None:
    """One cheap call per configured model: served, refused (the key or billing) or gone.

    Run after a deploy and on a schedule; exits 1 when a model is gone or refused, so the
    scheduler's failure is an alert too (beside ``imagestudio_provider_model_gone``).
    """
    results = check_models(only=provider or ())
    if mark:
        for result in results:
            if result.status == "gone":
                shared_store.mark_model_gone(result.provider, result.model)
    if as_json:
        for result in results:
            print(json.dumps(vars(result)))  # noqa: T201 - CLI output
    else:
        table = Table("provider", "model", "status", "answer")
        for result in results:
            label = f"{result.provider} (simulated)" if result.simulated else result.provider
            colour = _COLOURS[result.status]
            table.add_row(label, result.model, f"[{colour}]{result.status}[/{colour}]", result.detail[:100])
        console.print(table)
    if not results:
        console.print("[yellow]no provider is configured (no IMAGESTUDIO_<PROVIDER>_API_KEY)[/yellow]")
    if any(result.status in ("gone", "refused") for result in results):
        raise typer.Exit(1)
