"""``imagestudio-client``: every studio, jobs, uploads, assets and credits from any folder.

Needs only ``IMAGESTUDIO_URL`` and ``IMAGESTUDIO_API_KEY`` (or ``--url`` / ``--api-key``). Shows
progress bars for the upload, the queue and the run, downloads every output, and prints tables,
or JSON with ``--json`` for scripts (then stdout holds only that JSON).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from itertools import islice
from pathlib import Path
from typing import Any, get_args

from pydantic import BaseModel
from rich import box
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from imagestudio_client._core import CATALOGUES, JobProgress, TransferProgress
from imagestudio_client._errors import APIError, ImageStudioError
from imagestudio_client._models import Studio
from imagestudio_client._sync import ImageStudio, Job

#: Bars and messages go to stderr, so stdout carries only results (and only JSON with --json).
console = Console(stderr=True)
#: Results as tables; wide enough that ids are never cut when stdout is not a terminal.
results = Console(highlight=False, width=160)

#: The columns a list shows: the first set an item has all of (jobs, uploads, assets, deliveries,
#: endpoints, personas); else its first six fields.
COLUMNS: tuple[tuple[str, ...], ...] = (
    ("id", "studio", "status", "progress", "created_at", "finished_at"),
    ("id", "state", "width", "height", "format", "bytes"),
    ("id", "studio", "name", "format", "width", "height", "tags", "favorite"),
    ("id", "event_type", "status", "attempts", "last_status_code", "url"),
    ("id", "url", "enabled", "event_types", "failed_deliveries"),
    ("id", "name", "tone", "description"),
)


class _Bars:
    """The upload, queue and run bars of one command; silent with --json."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.progress = Progress(
            TextColumn("[bold]{task.description:<9}"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TextColumn("{task.fields[message]}"),
            TimeElapsedColumn(),
            console=console,
            disable=quiet,
        )
        self._tasks: dict[str, TaskID] = {}

    def _task(self, name: str, total: float) -> TaskID:
        if name not in self._tasks:
            self._tasks[name] = self.progress.add_task(name, total=total, message="")
        return self._tasks[name]

    def upload(self, update: TransferProgress) -> None:
        task = self._task("upload", max(update.total_bytes, 1))
        self.progress.update(task, completed=update.done_bytes, message=update.name)

    def job(self, update: JobProgress) -> None:
        queued = self._task("queued", 1.0)
        if update.status == "queued":
            self.progress.update(queued, completed=0, message="waiting for a worker")
            return
        self.progress.update(queued, completed=1.0, message="")
        running = self._task("running", 1.0)
        self.progress.update(running, completed=update.progress, message=update.message)

    def download(self, update: TransferProgress) -> None:
        task = self._task("download", max(update.total_bytes, 1))
        self.progress.update(task, completed=update.done_bytes, message=f"{update.done_bytes} B")

    @contextmanager
    def shown(self) -> Iterator[_Bars]:
        with self.progress:
            yield self


def _out(text: object) -> None:
    sys.stdout.write(f"{text}\n")


def _options(pairs: Sequence[str] | None) -> dict[str, Any]:
    """``-o key=value`` pairs; a value that reads as JSON (numbers, true, lists) is taken as such."""
    options: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, raw = pair.partition("=")
        if not sep:
            raise SystemExit(f"--option takes key=value, not {pair!r}")
        try:
            options[key] = json.loads(raw)
        except ValueError:
            options[key] = raw
    return options


def _dump(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list):
        return [_dump(v) for v in value]
    return value


def _finish(args: argparse.Namespace, client: ImageStudio, submit: Callable[[_Bars], Job]) -> int:
    """Submit, follow the job to its end, download its outputs; the job (and files) as the result."""
    bars = _Bars(args.json)
    with bars.shown():
        job = submit(bars)
        if not args.json:
            console.print(f"job [cyan]{job.id}[/cyan] accepted")
        if args.no_wait:
            return __out(args, job.model_dump(mode="json"))
        job = job.wait(timeout=args.timeout, on_progress=bars.job)
        files = (
            job.download(args.out, on_progress=bars.download)
            if job.status == "succeeded" and args.out
            else []
        )
    result = {**job.model_dump(mode="json"), "files": [str(f.resolve()) for f in files]}
    if args.json:
        __out(args, result)
    elif job.status == "succeeded":
        console.print(f"[green]succeeded: {len(files)} files in {args.out}[/green]")
        for file in files:
            _out(file)
    else:
        error = job.error or {}
        console.print(f"[red]job {job.status}: {error.get('title', '')} {error.get('detail', '')}[/red]")
    return 0 if job.status == "succeeded" else 1


def __out(args: argparse.Namespace, value: Any) -> int:
    """The result: JSON with --json, else a table (one row per item, or one per field)."""
    data = _dump(value)
    if args.json:
        _out(json.dumps(data, indent=2))
    elif isinstance(data, list):
        results.print(_list_table(data))
    elif isinstance(data, dict):
        results.print(_record_table(data))
    else:
        _out(data)
    return 0


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list) and all(not isinstance(v, dict | list) for v in value):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _list_table(items: list[Any]) -> Table | str:
    if not items:
        return "(none)"
    first = items[0] if isinstance(items[0], dict) else {"value": items[0]}
    columns = next((cols for cols in COLUMNS if set(cols) <= set(first)), tuple(first)[:6])
    table = Table(box=box.SIMPLE_HEAD)
    for column in columns:
        table.add_column(column, overflow="fold")
    for item in items:
        row = item if isinstance(item, dict) else {"value": item}
        table.add_row(*(_cell(row.get(column)) for column in columns))
    return table


def _record_table(record: dict[str, Any]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for key, value in record.items():
        table.add_row(key, _cell(value))
    return table


# --- commands -----------------------------------------------------------------------------------


def _fields(args: argparse.Namespace, **typed: Any) -> dict[str, Any]:
    """The typed flags given, then ``-o`` options (which win)."""
    return {**{k: v for k, v in typed.items() if v is not None}, **_options(args.option)}


def studio_command(
    studio: str, *flags: str, subject: str = "image"
) -> Callable[[argparse.Namespace, ImageStudio], int]:
    """The command that sends its ``subject`` (the positional argument; an ``-o`` option of that name
    wins) to ``studio`` with the typed ``flags`` given, then ``-o`` options."""

    def run(args: argparse.Namespace, client: ImageStudio) -> int:
        fields = _fields(args, **{flag: getattr(args, flag) for flag in flags})
        first = fields.pop(subject, getattr(args, subject))
        submit = getattr(client, studio)
        return _finish(args, client, lambda bars: submit(first, on_upload=bars.upload, **fields))

    return run


def cmd_catalogue(args: argparse.Namespace, client: ImageStudio) -> int:
    return __out(args, client.catalogue(args.studio))


def cmd_social(args: argparse.Namespace, client: ImageStudio) -> int:
    fields = _fields(
        args,
        platforms=args.platform,
        formats=args.format,
        crop_mode=args.crop_mode,
        output_format=args.output_format,
        safe_zone_overlay=args.safe_zones or None,
    )
    return _finish(
        args, client, lambda bars: client.social.optimize(args.image, on_upload=bars.upload, **fields)
    )


def cmd_jobs(args: argparse.Namespace, client: ImageStudio) -> int:
    if args.action == "get":
        return __out(args, client.jobs.get(args.id))
    if args.action == "cancel":
        return __out(args, client.jobs.cancel(args.id))
    if args.action == "list":
        jobs = client.jobs.list(studio=args.studio, status=args.status, page_size=min(args.limit, 100))
        return __out(args, list(islice(jobs, args.limit)))
    return _finish(args, client, lambda bars: client.jobs.get(args.id))  # watch


def cmd_uploads(args: argparse.Namespace, client: ImageStudio) -> int:
    if args.action == "create":
        bars = _Bars(args.json)
        with bars.shown():
            upload = client.uploads.create(args.file, on_progress=bars.upload)
        return __out(args, upload)
    if args.action == "get":
        return __out(args, client.uploads.get(args.id))
    client.uploads.delete(args.id)
    return 0


def cmd_assets(args: argparse.Namespace, client: ImageStudio) -> int:
    if args.action == "get":
        return __out(args, client.assets.get(args.id))
    if args.action == "favorite":
        return __out(args, client.assets.favorite(args.id, not args.off))
    if args.action == "tag":
        return __out(args, client.assets.tag(args.id, args.tag or []))
    if args.action == "delete":
        client.assets.delete(args.id)
        return 0
    filters = {"studio": args.studio, "tag": args.tag, "q": args.q}
    return __out(
        args, list(islice(client.assets.list(page_size=min(args.limit, 100), **filters), args.limit))
    )


def cmd_webhooks(args: argparse.Namespace, client: ImageStudio) -> int:
    hooks = client.webhooks
    if args.action == "list":
        return __out(args, hooks.list_endpoints())
    if args.action == "add":
        return __out(
            args, hooks.create_endpoint(args.url, event_types=args.event, description=args.description)
        )
    if args.action == "disable":
        return __out(args, hooks.disable_endpoint(args.id))
    if args.action == "enable":
        return __out(args, hooks.enable_endpoint(args.id))
    if args.action == "rotate":
        return __out(args, hooks.rotate_endpoint_secret(args.id))
    if args.action == "delete":
        hooks.delete_endpoint(args.id)
        return 0
    if args.action == "redeliver":
        return __out(args, hooks.redeliver(args.id))
    deliveries = hooks.deliveries(job_id=args.job, endpoint_id=args.endpoint, page_size=min(args.limit, 100))
    return __out(args, list(islice(deliveries, args.limit)))


def cmd_templates(args: argparse.Namespace, client: ImageStudio) -> int:
    if args.search:
        return __out(args, client.templates.search(args.search)["results"])
    return __out(args, client.templates.list()["templates"])


def cmd_providers(args: argparse.Namespace, client: ImageStudio) -> int:
    return __out(args, client.providers(kind=args.kind)["providers"])


def cmd_credits(args: argparse.Namespace, client: ImageStudio) -> int:
    credits = client.credits.get()
    if args.json:
        return __out(args, credits)
    _out(
        f"tier {credits.tier}: {credits.available} available ({credits.balance} balance, {credits.reserved} held)"
    )
    return 0


# --- parser -------------------------------------------------------------------------------------


def _job_options(parser: argparse.ArgumentParser, *, out: str | None) -> None:
    parser.add_argument("--out", type=Path, default=Path(out) if out else None, help="download outputs here")
    parser.add_argument("--no-wait", action="store_true", help="print the accepted job and return")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds to wait for the job")
    parser.add_argument(
        "-o", "--option", action="append", metavar="KEY=VALUE", help="any other request field"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="imagestudio-client", description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="service URL (default: IMAGESTUDIO_URL)")
    parser.add_argument("--api-key", help="API key (default: IMAGESTUDIO_API_KEY)")
    parser.add_argument("--json", action="store_true", help="print JSON only, no progress bars")
    commands = parser.add_subparsers(dest="command", required=True)

    create = commands.add_parser("create", help="text to image")
    create.add_argument("prompt")
    create.add_argument("--count", type=int)
    create.add_argument("--provider")
    create.add_argument("--aspect-ratio")
    create.add_argument("--init-image", help="image to image: a file, an upload id or an https:// URL")
    create.add_argument("--strength", type=float, help="how far from --init-image, 0-1")
    _job_options(create, out="create-out")
    create.set_defaults(
        run=studio_command(
            "create", "count", "provider", "aspect_ratio", "init_image", "strength", subject="prompt"
        )
    )

    edit = commands.add_parser("edit", help="edit an image (see GET /edit/operations)")
    edit.add_argument("image", help="a file, an upload id or an https:// URL")
    edit.add_argument("--operation", required=True)
    edit.add_argument("--mask")
    edit.add_argument("--prompt")
    edit.add_argument("--path", choices=["auto", "provider", "local"])
    _job_options(edit, out="edit-out")
    edit.set_defaults(run=studio_command("edit", "operation", "mask", "prompt", "path"))

    upscale = commands.add_parser("upscale", help="upscale an image")
    upscale.add_argument("image", help="a file, an upload id or an https:// URL")
    upscale.add_argument("--mode", default="fast", choices=["fast", "conservative", "creative"])
    upscale.add_argument("--path", choices=["auto", "provider", "local"])
    _job_options(upscale, out="upscale-out")
    upscale.set_defaults(run=studio_command("upscale", "mode", "path"))

    control = commands.add_parser(
        "control", help="generate under an image's control (GET /control/operations)"
    )
    control.add_argument(
        "image", help="the drawing, structure, style or init image: a file, an upload id or an https:// URL"
    )
    control.add_argument(
        "--operation", required=True, choices=["sketch", "structure", "style", "style_transfer"]
    )
    control.add_argument("--prompt")
    control.add_argument(
        "--style-image", help="style_transfer's style: a file, an upload id or an https:// URL"
    )
    strengths = ("control_strength", "fidelity", "style_strength", "composition_fidelity", "change_strength")
    for strength in strengths:
        control.add_argument(f"--{strength.replace('_', '-')}", type=float)
    control.add_argument("--provider", choices=["auto", "stability", "wavespeed"])
    _job_options(control, out="control-out")
    control.set_defaults(
        run=studio_command("control", "operation", "prompt", "style_image", *strengths, "provider")
    )

    compress = commands.add_parser("compress", help="compress an image (free)")
    compress.add_argument("image", help="a file, an upload id or an https:// URL")
    compress.add_argument("--format", choices=["jpeg", "png", "webp", "avif"])
    target = compress.add_mutually_exclusive_group()
    target.add_argument("--quality", type=int)
    target.add_argument("--target-kb", type=int, help="the highest quality that fits")
    target.add_argument(
        "--target-ssim", type=float, help="the smallest file at least this close to the source"
    )
    target.add_argument("--preset", choices=["web", "email", "social", "high_quality", "max_compression"])
    _job_options(compress, out="compress-out")
    compress.set_defaults(
        run=studio_command("compress", "format", "quality", "target_kb", "target_ssim", "preset")
    )

    convert = commands.add_parser("convert", help="convert an image to another format (free)")
    convert.add_argument("image", help="a file, an upload id or an https:// URL")
    convert.add_argument(
        "--format", required=True, choices=["jpeg", "png", "webp", "avif", "gif", "tiff", "bmp"]
    )
    convert.add_argument("--quality", type=int)
    convert.add_argument("--transparency", choices=["preserve", "flatten"])
    convert.add_argument("--background", help="flatten onto this colour, #rrggbb")
    _job_options(convert, out="convert-out")
    convert.set_defaults(run=studio_command("convert", "format", "quality", "transparency", "background"))

    catalogue = commands.add_parser("catalogue", help="a studio's operations, modes or options")
    catalogue.add_argument("studio", choices=sorted(CATALOGUES))
    catalogue.set_defaults(run=cmd_catalogue)

    social = commands.add_parser("social", help="one image to every platform format")
    social.add_argument("image", help="a file, an upload id or an https:// URL")
    social.add_argument("-p", "--platform", action="append", help="platform (repeatable); default all")
    social.add_argument("-f", "--format", action="append", help="platform.format (repeatable)")
    social.add_argument("--crop-mode", choices=["smart", "center", "fit"])
    social.add_argument("--output-format", choices=["jpeg", "png", "webp"])
    social.add_argument("--safe-zones", action="store_true", help="also make safe-zone previews")
    _job_options(social, out="social-out")
    social.set_defaults(run=cmd_social)

    jobs = commands.add_parser("jobs", help="get, list, cancel or watch jobs")
    jobs_actions = jobs.add_subparsers(dest="action", required=True)
    for action in ("get", "cancel"):
        jobs_actions.add_parser(action).add_argument("id")
    watch = jobs_actions.add_parser("watch", help="follow a job to its end and download its outputs")
    watch.add_argument("id")
    _job_options(watch, out=None)
    listing = jobs_actions.add_parser("list")
    listing.add_argument("--studio", choices=get_args(Studio))
    listing.add_argument(
        "--status", choices=["queued", "running", "succeeded", "failed", "canceled", "expired"]
    )
    listing.add_argument("--limit", type=int, default=20)
    jobs.set_defaults(run=cmd_jobs)

    uploads = commands.add_parser("uploads", help="upload an image once, use it many times")
    uploads_actions = uploads.add_subparsers(dest="action", required=True)
    uploads_actions.add_parser("create").add_argument("file", type=Path)
    for action in ("get", "delete"):
        uploads_actions.add_parser(action).add_argument("id")
    uploads.set_defaults(run=cmd_uploads)

    assets = commands.add_parser("assets", help="the asset library")
    assets_actions = assets.add_subparsers(dest="action", required=True)
    assets_actions.add_parser("get").add_argument("id")
    asset_list = assets_actions.add_parser("list")
    asset_list.add_argument("--studio")
    asset_list.add_argument("--tag")
    asset_list.add_argument("--q", help="text search")
    asset_list.add_argument("--limit", type=int, default=20)
    favorite = assets_actions.add_parser("favorite", help="mark an asset a favourite")
    favorite.add_argument("id")
    favorite.add_argument("--off", action="store_true", help="no longer a favourite")
    tag = assets_actions.add_parser("tag", help="set an asset's tags (the whole list)")
    tag.add_argument("id")
    tag.add_argument("-t", "--tag", action="append", help="a tag (repeatable; none clears them)")
    assets_actions.add_parser("delete").add_argument("id")
    assets.set_defaults(run=cmd_assets)

    hooks = commands.add_parser("webhooks", help="webhook endpoints and deliveries")
    hooks_actions = hooks.add_subparsers(dest="action", required=True)
    hooks_actions.add_parser("list", help="the registered endpoints")
    add = hooks_actions.add_parser("add", help="register an endpoint (its secret is shown once)")
    add.add_argument("url")
    add.add_argument("-e", "--event", action="append", help="e.g. job.succeeded (repeatable; default all)")
    add.add_argument("--description")
    for action in ("disable", "enable", "rotate", "delete", "redeliver"):
        hooks_actions.add_parser(action).add_argument(
            "id", help="the endpoint's id (a delivery's to redeliver)"
        )
    deliveries = hooks_actions.add_parser("deliveries", help="deliveries, newest first")
    deliveries.add_argument("--job")
    deliveries.add_argument("--endpoint")
    deliveries.add_argument("--limit", type=int, default=20)
    hooks.set_defaults(run=cmd_webhooks)

    templates = commands.add_parser("templates", help="the template catalogue")
    templates.add_argument("--search", help="words to look for")
    templates.set_defaults(run=cmd_templates)

    providers = commands.add_parser("providers", help="the providers behind the studios")
    providers.add_argument("--kind", choices=["generate", "edit", "upscale", "control"])
    providers.set_defaults(run=cmd_providers)

    credits = commands.add_parser("credits", help="balance and credits held")
    credits.set_defaults(run=cmd_credits)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        with ImageStudio(args.url, args.api_key) as client:
            code: int = args.run(args, client)
            return code
    except APIError as exc:
        if args.json:
            _out(json.dumps(exc.problem, indent=2))
        console.print(f"[red]{exc}[/red]")
        return 1
    except ImageStudioError as exc:
        console.print(f"[red]{exc}[/red]")
        return 1


if __name__ == "__main__":
    sys.exit(main())
