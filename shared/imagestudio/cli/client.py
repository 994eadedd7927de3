"""Client commands of ``imagestudio``: submit a job to a running gateway, watch it, download it.

``imagestudio social optimize photo.jpg --platform instagram`` shows the job's progress as a bar
and downloads every output; ``imagestudio jobs watch <id>`` follows any job.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn

from imagestudio.config import get_settings

console = Console()
social_app = typer.Typer(help="Social optimizer (client).", no_args_is_help=True)
jobs_app = typer.Typer(help="Jobs (client).", no_args_is_help=True)

#: Seconds between status polls while watching a job.
POLL_SECONDS = 0.5

UrlOption = Annotated[
    str | None,
    typer.Option(
        envvar="IMAGESTUDIO_URL",
        help="Service URL (default: IMAGESTUDIO_URL, else this project's IMAGESTUDIO_PUBLIC_URL or host:port)",
    ),
]
KeyOption = Annotated[
    str | None,
    typer.Option(
        envvar="IMAGESTUDIO_API_KEY",
        help="API key (default: IMAGESTUDIO_API_KEY, else the dev key `make up` wrote)",
    ),
]


def _client(url: str | None, key: str | None) -> httpx.Client:
    """A client from the URL and key alone; this project's settings are read only to fill in what is missing.

    So, like the SDK's ``imagestudio-client``, it works from any folder given ``IMAGESTUDIO_URL``
    and ``IMAGESTUDIO_API_KEY``; inside the project ``make up``'s URL and dev key are the defaults.
    """
    if url is None or key is None:
        settings = get_settings()
        url = url or settings.base_url
        if key is None:
            dev_key = settings.data_dir / "dev-api-key"
            if not dev_key.is_file():
                raise typer.BadParameter(
                    "no --api-key given and no dev key; run `make up` first", param_hint="--api-key"
                )
            key = dev_key.read_text().strip()
    return httpx.Client(
        base_url=url.rstrip("/") + "/api/image-studio",
        headers={"Authorization": f"Bearer {key}"},
        timeout=httpx.Timeout(30.0),
    )


def _fail_on_problem(response: httpx.Response) -> dict[str, Any]:
    if response.status_code >= 400:
        try:
            problem = response.json()
            detail = f"{problem.get('title')}: {problem.get('detail')}"
        except ValueError:
            detail = response.text[:500]
        console.print(f"[red]{response.status_code} {detail}[/red]")
        raise typer.Exit(1)
    return response.json()  # type: ignore[no-any-return]


def watch(client: httpx.Client, job_id: str, *, timeout: float = 1800) -> dict[str, Any]:
    """Follow a job with a progress bar until it ends (bounded by ``timeout``)."""
    deadline = time.monotonic() + timeout
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TextColumn("{task.fields[message]}"),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task(f"job {job_id[:8]}", total=1.0, message="queued")
        while True:
            job = _fail_on_problem(client.get(f"/jobs/{job_id}"))
            progress.update(task, completed=job["progress"], message=job["progress_message"] or job["status"])
            if job["status"] in ("succeeded", "failed", "canceled", "expired"):
                return job
            if time.monotonic() > deadline:
                console.print("[yellow]still running; watch it again with `imagestudio jobs watch`[/yellow]")
                raise typer.Exit(2)
            time.sleep(POLL_SECONDS)


def download(job: dict[str, Any], out: Path) -> list[Path]:
    """Download every output of a finished job into ``out`` (links are presigned: no key needed)."""
    out.mkdir(parents=True, exist_ok=True)
    saved: list[Path] = []
    total = sum(o["bytes"] for o in job["outputs"])
    with Progress(
        TextColumn("[bold]downloading"), BarColumn(), DownloadColumn(), console=console
    ) as progress:
        task = progress.add_task("download", total=total)
        for output in job["outputs"]:
            ext = {"jpeg": "jpg"}.get(output["format"], output["format"])
            target = (
                out / f"{output['name']}.{ext}"
                if not output["name"].endswith(f".{ext}")
                else out / output["name"]
            )
            with httpx.stream("GET", output["url"], timeout=60) as response:
                response.raise_for_status()
                with target.open("wb") as fh:
                    for chunk in response.iter_bytes():
                        fh.write(chunk)
                        progress.advance(task, len(chunk))
            saved.append(target)
    return saved


def _report(job: dict[str, Any], out: Path | None) -> None:
    if job["status"] != "succeeded":
        error = job.get("error") or {}
        console.print(f"[red]job {job['status']}: {error.get('title', '')} {error.get('detail', '')}[/red]")
        raise typer.Exit(1)
    if out is not None:
        files = download(job, out)
        console.print(f"[green]{len(files)} files in {out}[/green]")


@social_app.command("optimize")
def social_optimize(
    image: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="The image to adapt")],
    platform: Annotated[
        list[str] | None, typer.Option("--platform", "-p", help="Platform (repeatable); default all")
    ] = None,
    format: Annotated[
        list[str] | None, typer.Option("--format", "-f", help="platform.format (repeatable)")
    ] = None,
    crop_mode: Annotated[str, typer.Option(help="smart, center or fit")] = "smart",
    output_format: Annotated[str, typer.Option(help="jpeg, png or webp")] = "jpeg",
    safe_zones: Annotated[bool, typer.Option(help="Also make safe-zone previews")] = False,
    out: Annotated[Path, typer.Option(help="Folder for the outputs")] = Path("social-out"),
    url: UrlOption = None,
    api_key: KeyOption = None,
) -> None:
    """Submit a social job, show its progress, and download every format."""
    with _client(url, api_key) as client:
        data: dict[str, Any] = {
            "crop_mode": crop_mode,
            "output_format": output_format,
            "safe_zone_overlay": str(safe_zones).lower(),
        }
        if platform:
            data["platforms"] = platform
        if format:
            data["formats"] = format
        with image.open("rb") as fh:
            accepted = _fail_on_problem(
                client.post("/social/optimize", files={"image": (image.name, fh)}, data=data)
            )
        console.print(f"job [cyan]{accepted['id']}[/cyan] accepted")
        _report(watch(client, accepted["id"]), out)


@jobs_app.command("watch")
def jobs_watch(
    job_id: Annotated[str, typer.Argument(help="Job id")],
    out: Annotated[Path | None, typer.Option(help="Download the outputs here when it succeeds")] = None,
    url: UrlOption = None,
    api_key: KeyOption = None,
) -> None:
    """Follow a job's progress until it ends; optionally download its outputs."""
    with _client(url, api_key) as client:
        _report(watch(client, job_id), out)
