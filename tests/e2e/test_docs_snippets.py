"""Every fenced block of the reference pages in docs/ is run or validated against one `imagestudio up`.

A block is handled by its info string, and a block no rule handles fails the test by name:

- ```bash / ```sh / ```console: run in page order in the folder of `imagestudio up` (bash -eu, as a
  reader pastes them), with KEY and API set by the README walk-through's own lines; variables a
  block sets are there for the later blocks of its page. `curl` fails on an HTTP error, and each
  block's output must match the checks in ``CHECKS``.
- ```bash deploy: only meaningful in a deployment: parsed (`bash -n`), every `IMAGESTUDIO_` variable
  must be a setting, every `imagestudio` command must exist, every referenced file must exist.
- ```json <Schema> [partial]: validated against that schema of docs/openapi.json (``partial``: an
  excerpt, its required fields are not required); two examples are also compared with what the
  live service answers.
- ```python: executed.
- ```text rooms: a picture of folders and files; every path it names (``name/`` or ``name.py``,
  placeholders in ``<>`` aside) must be a folder or file the repository tracks.

docs/clients.md and docs/clients-typescript.md are run by their own tests (see ``COVERED_ELSEWHERE``).
"""

from __future__ import annotations

import io
import json
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from PIL import Image
from support import ROOT, imagestudio_up, wait_for
from test_readme_walkthrough import walkthrough_block

DOCS = ROOT / "docs"
#: Pages whose snippets another test runs.
COVERED_ELSEWHERE = {
    "docs/clients.md": "tests/clients/python/test_sdk_docs.py",
    "docs/clients-typescript.md": "tests/clients/typescript/test_typescript_client.py",
}
PAGES = sorted(
    p
    for p in [*DOCS.glob("*.md"), *(DOCS / "studios").glob("*.md")]
    if str(p.relative_to(ROOT)) not in COVERED_ELSEWHERE
)
FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```[ \t]*$", re.S | re.M)
SHELL = {"bash", "sh", "console"}
JOB_ID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"

#: What the output of each run block must show, by "<page>#<ordinal of the block on the page>".
CHECKS: dict[str, tuple[str, ...]] = {
    "docs/api.md#1": (
        r"HTTP/1\.1 202 Accepted",
        r"(?i)location: /api/image-studio/jobs/" + JOB_ID,
        r'"operation":"inpaint"',
        r'"studio":"upscale"',
    ),
    "docs/api.md#2": (
        r'"status":202,"job":\{"id":"' + JOB_ID,
        r'"status":422,"job":null,"problem":\{[^}]*"field":"image"',
    ),
    "docs/api.md#3": (
        r'"status":"succeeded"',
        r'"studio":"compress"',
        r'"image_urls":\{"image":"http://127\.0\.0\.1:8765/photo\.jpg"\}',
    ),
    "docs/api.md#4": (r"tenant: \S+", r"key:\s+isk_", r"(?s)key id: .*key id: "),
    "docs/api.md#5": (r"key \S+ \(isk_[\w-]+…\) revoked at ",),
    "docs/api.md#6": (
        r'"priority":"low"',
        r'"output_retention_seconds":3600',
        r'"items":\[\{"id":"upl_\w+","state":"ready"',
    ),
    "docs/credits-and-limits.md#0": (r'"balance":\d+', r'"total_credits":0'),
    "docs/credits-and-limits.md#1": (r"is now on the basic tier", r"balance \d+, reserved 0, available \d+"),
    "docs/credits-and-limits.md#2": (
        r"20000 requests/minute\s+\(tier: 60\), 5000 concurrent jobs \(tier: 5\)",
        r"\): 60 requests/minute\s+\(tier: 60\), 5 concurrent jobs \(tier: 5\)",
    ),
    "docs/uploads.md#1": (
        r'"id":"upl_\w+","state":"ready","width":1600,"height":1200,"format":"jpeg"',
        r'"state":"pending","put_url":"http',
        r'"state":"ready"',
    ),
    "docs/webhooks.md#0": (
        r'"id":"' + JOB_ID + r'","status":"queued"',
        r'"secret":"whsec_',
        r'"url":"https://partner.example/hooks".*"secret":"whsec_',
    ),
    "docs/studios/control.md#0": (
        r'"id": "sketch"',
        r'"status":"queued","studio":"control"',
        r'"style_strength":0\.0',
        r"succeeded \{'control_strength': 0\.0\}",
        r"controlled \d+ \d+ stability True",
        r"control_map 1600 1200 local False",
        r"(?m)^422$",
    ),
    "docs/studios/create.md#0": (
        r"HTTP/1\.1 202 Accepted",
        r"(?i)location: /api/image-studio/jobs/" + JOB_ID,
    ),
    "docs/studios/create.md#1": (r'(?s)"id":"' + JOB_ID + r'","status":"queued".*"id":"' + JOB_ID,),
    "docs/studios/edit.md#0": (r'"id": "remove_background"', r'"id":"' + JOB_ID + r'","status":"queued"'),
    "docs/studios/upscale.md#0": (r'"id":"' + JOB_ID + r'","status":"queued"', r'"creative"'),
    "docs/studios/compress.md#0": (
        r'(?s)("id":"' + JOB_ID + r'","status":"queued".*){4}',
        r'"studio":"compress"',
        r'"id": "jpeg"',
    ),
}


@dataclass(frozen=True)
class Block:
    """One fenced block: where it is, its info string and its text."""

    page: str
    ordinal: int
    line: int
    info: str
    code: str

    @property
    def key(self) -> str:
        return f"{self.page}#{self.ordinal}"

    @property
    def name(self) -> str:
        return f"{self.page}:{self.line} (```{self.info})"

    @property
    def words(self) -> list[str]:
        return self.info.split()


def blocks(page: Path) -> list[Block]:
    text = page.read_text()
    return [
        Block(
            str(page.relative_to(ROOT)),
            i,
            text.count("\n", 0, m.start()) + 1,
            m.group(1).strip(),
            m.group(2),
        )
        for i, m in enumerate(FENCE.finditer(text))
    ]


def prelude(base: str) -> str:
    """KEY and API exactly as the README walk-through sets them, on this run's port."""
    lines = [line for line in walkthrough_block().splitlines() if line.startswith(("KEY=", "API="))]
    assert len(lines) == 2, lines
    return "\n".join(lines).replace("http://127.0.0.1:8000", base)


#: Runs one block after the state of the page's earlier blocks, then saves the variables it leaves.
WRAPPER = """\
__BASE=$(compgen -v)
curl() { command curl --fail-with-body "$@"; }   # an HTTP error fails the block
%(prelude)s
if [ -f .doc-state ]; then source .doc-state; fi
%(code)s
__NEW=$(compgen -v | grep -vxF -e "$__BASE" | grep -E '^[A-Za-z][A-Za-z0-9_]*$' | grep -v '^BASH' || true)
{ [ -z "$__NEW" ] || declare -p $__NEW; } > .doc-state
"""


def kind(block: Block) -> str | None:
    """How a block is handled, from its info string; None: by nothing (the test fails naming it)."""
    words = block.words or [""]
    if words[0] in SHELL:
        return {(): "shell", ("deploy",): "deploy"}.get(tuple(words[1:]))
    if words[0] == "json" and len(words) > 1:
        return "json"
    if words == ["text", "rooms"]:
        return "rooms"
    return "python" if words == ["python"] else None


def check_rooms(block: Block) -> None:
    """Every folder (``name/``) or Python file a ```text rooms block names is tracked in the repository."""
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    places = {f"/{path}" for path in tracked.splitlines()}
    named = set(re.findall(r"(?<![\w<>/.-])([\w.-]+(?:/[\w.-]+)*(?:/|\.py))(?![\w])", block.code))
    missing = [
        name
        for name in sorted(named)
        if not any(place.endswith(f"/{name}") or f"/{name.rstrip('/')}/" in place for place in places)
    ]
    assert named and not missing, f"{block.name}: no such folder or file {missing}"


def console_commands(code: str) -> str:
    """A ```console block's commands: its `$ ` lines."""
    return "\n".join(line[2:] for line in code.splitlines() if line.startswith("$ "))


def openapi() -> dict[str, Any]:
    return json.loads((DOCS / "openapi.json").read_text())  # type: ignore[no-any-return]


def validate_json(block: Block) -> Any:
    """A ```json <Schema> [partial] example against that schema of the committed OpenAPI document."""
    words = block.words[1:]
    assert words and words[0] != "partial", (
        f"{block.name}: name the OpenAPI schema it shows (```json Problem)"
    )
    name, partial = words[0], "partial" in words[1:]
    document = openapi()
    schemas = document["components"]["schemas"]
    assert name in schemas, f"{block.name}: no schema {name} in docs/openapi.json"
    schema = dict(schemas[name])
    if partial:
        schema.pop("required", None)
    example = json.loads(block.code)
    jsonschema.Draft202012Validator({**schema, "components": document["components"]}).validate(example)
    return example


def check_deploy(block: Block) -> None:
    """A deployment-only block: it parses, names real settings, real commands and existing files."""
    from imagestudio.cli.run import WORKERS
    from imagestudio.config import Settings

    parsed = subprocess.run(["bash", "-n"], input=block.code, capture_output=True, text=True)
    assert parsed.returncode == 0, f"{block.name}: {parsed.stderr}"
    fields = set(Settings.model_fields)
    variables = re.findall(r"\bIMAGESTUDIO_([A-Z0-9_]+)=", block.code)
    assert variables, block.name
    unknown = [v for v in variables if v.lower() not in fields]
    assert not unknown, f"{block.name}: not settings: {unknown}"
    commands = [shlex.split(line.split("#", 1)[0]) for line in block.code.splitlines()]
    commands = [words for words in commands if words and words[0] == "imagestudio"]
    assert commands, block.name
    for words in commands:
        helped = subprocess.run(
            [str(Path(sys.executable).parent / "imagestudio"), words[1], "--help"],
            capture_output=True,
            text=True,
        )
        assert helped.returncode == 0, f"{block.name}: imagestudio {words[1]}: {helped.stderr}"
        if words[1] == "worker":
            assert words[2] in WORKERS, f"{block.name}: no worker {words[2]}"
    for path in re.findall(r"(?<![\w/.])((?:deploy|docs|scripts)/[\w./-]+)", block.code):
        assert (ROOT / path).exists(), f"{block.name}: {path} does not exist"


def write_images(folder: Path) -> None:
    """The files the pages' commands send: a photo (as JPEG and PNG), a mask of its size, two more."""
    photo = Image.effect_mandelbrot((1600, 1200), (-2, -1.2, 1, 1.2), 60).convert("RGB")
    photo.save(folder / "photo.jpg")
    photo.save(folder / "photo.png")
    mask = Image.new("L", photo.size, 0)
    mask.paste(255, (600, 400, 1000, 800))
    mask.save(folder / "mask.png")
    photo.resize((400, 300)).save(folder / "small.jpg")
    photo.resize((800, 600)).save(folder / "big.jpg")


@dataclass
class Service:
    base: str
    folder: Path
    env: dict[str, str]

    @property
    def key(self) -> str:
        return (self.folder / ".imagestudio" / "dev-api-key").read_text().strip()

    def get(self, path: str) -> Any:
        answer = httpx.get(f"{self.base}{path}", headers={"Authorization": f"Bearer {self.key}"}, timeout=30)
        assert answer.status_code == 200, answer.text
        return answer.json()


#: Loaded by `imagestudio up` (PYTHONPATH): the docs' example hosts (.example, reserved by RFC 2606 and
#: never on the internet) resolve to loopback, so the webhook URLs the pages register pass the egress
#: guard (with loopback allowed) and every delivery stays on this machine.
EXAMPLE_HOSTS = """\
import socket

_getaddrinfo = socket.getaddrinfo


def _example_to_loopback(host, *args, **kwargs):
    if isinstance(host, str) and host.endswith(".example"):
        host = "127.0.0.1"
    return _getaddrinfo(host, *args, **kwargs)


socket.getaddrinfo = _example_to_loopback
"""


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """One `imagestudio up` for every page, in a folder laid out like the repository's after `make up`."""
    folder = tmp_path_factory.mktemp("docs-snippets")
    write_images(folder)
    (folder / ".venv").symlink_to(Path(sys.executable).parent.parent)  # `.venv/bin/imagestudio`
    hosts = tmp_path_factory.mktemp("example-hosts")
    (hosts / "sitecustomize.py").write_text(EXAMPLE_HOSTS)
    with imagestudio_up(
        folder,
        data_dir=folder / ".imagestudio",
        PYTHONPATH=str(hosts),
        IMAGESTUDIO_WEBHOOK_ALLOW_LOOPBACK="true",
        IMAGESTUDIO_REMOTE_IMAGE_ALLOW_LOOPBACK="true",
    ) as (base, env):
        yield Service(base, folder, env)


def run_shell(block: Block, code: str, service: Service, workdir: Path) -> str:
    script = WRAPPER % {"prelude": prelude(service.base), "code": code}
    done = subprocess.run(
        ["bash", "-eu", "-c", script],
        cwd=workdir,
        env={**service.env, "COLUMNS": "200"},  # the commands' tables and lines unwrapped
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, f"{block.name} failed:\n{code}\n{done.stdout}\n{done.stderr}"
    checks = CHECKS.get(block.key)
    assert checks, f"{block.name} ran but nothing checks its output: add {block.key!r} to CHECKS"
    for pattern in checks:
        assert re.search(pattern, done.stdout), f"{block.name}: no {pattern!r} in\n{done.stdout}"
    return done.stdout


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(DOCS)))
def test_every_block_of_the_page_runs_or_validates(page: Path, service: Service) -> None:
    # Each page starts from the folder of `make up`, without what another page's blocks left there.
    workdir = service.folder / f"page-{page.stem}"
    workdir.mkdir()
    for entry in service.folder.iterdir():
        if entry.name != "up.log" and not entry.name.startswith("page-"):
            (workdir / entry.name).symlink_to(entry)
    unhandled = []
    for block in blocks(page):
        handling = kind(block)
        if handling == "deploy":
            check_deploy(block)
        elif handling == "shell":
            code = console_commands(block.code) if block.words[0] == "console" else block.code
            run_shell(block, code, service, workdir)
        elif handling == "json":
            validate_json(block)
        elif handling == "python":
            exec(compile(block.code, block.name, "exec"), {"__name__": "__doc_snippet__"})
        elif handling == "rooms":
            check_rooms(block)
        else:
            unhandled.append(block.name)
    assert not unhandled, f"blocks neither run nor validated (give them a known info string): {unhandled}"


def test_every_check_names_a_block_that_is_run() -> None:
    run = {b.key for page in PAGES for b in blocks(page) if kind(b) == "shell"}
    assert set(CHECKS) == run, {"stale": set(CHECKS) - run, "unchecked": run - set(CHECKS)}


@pytest.mark.parametrize("info", ["", "yaml", "json", "bash prod", "shell", "py"])
def test_a_block_without_a_known_info_string_is_handled_by_nothing(info: str) -> None:
    assert kind(Block("docs/x.md", 0, 1, info, "x\n")) is None


@pytest.mark.parametrize(
    ("info", "handling"),
    [
        ("bash", "shell"),
        ("console", "shell"),
        ("bash deploy", "deploy"),
        ("json Problem", "json"),
        ("python", "python"),
    ],
)
def test_known_info_strings_are_handled(info: str, handling: str) -> None:
    assert kind(Block("docs/x.md", 0, 1, info, "x\n")) == handling


def matches(example: Any, actual: Any) -> bool:
    """The example's fields are the actual answer's; a string with `...` or `<...>` is a pattern."""
    if isinstance(example, dict):
        return isinstance(actual, dict) and all(
            k in actual and matches(v, actual[k]) for k, v in example.items()
        )
    if isinstance(example, list):
        return isinstance(actual, list) and all(matches(e, a) for e, a in zip(example, actual, strict=False))
    if isinstance(example, str) and ("..." in example or "<" in example):
        pattern = re.sub(
            r"<[^>]*>|\\\.\\\.\\\.", ".+", re.escape(example).replace(r"\<", "<").replace(r"\>", ">")
        )
        return isinstance(actual, str) and re.fullmatch(pattern, actual) is not None
    return bool(example == actual)


def uploads_example(problem_type: str) -> Any:
    """The failed-job example of ``docs/uploads.md`` whose problem is ``problem_type``."""
    (block,) = [
        b for b in blocks(DOCS / "uploads.md") if kind(b) == "json" and f'/problems/{problem_type}"' in b.code
    ]
    return validate_json(block)


def wait_for_end(service: Service, job_id: str, what: str) -> Any:
    return wait_for(
        lambda: (
            (j := service.get(f"/api/image-studio/jobs/{job_id}"))["status"] in ("succeeded", "failed") and j
        ),
        timeout=60,
        what=what,
    )


def test_the_image_changed_example_is_what_a_rewritten_upload_gives(service: Service) -> None:
    """Presign, PUT 200x150, a job checks it; the checked object replaced by a 4000x3000 PNG: the next job fails."""
    example = uploads_example("image-changed")
    auth = {"Authorization": f"Bearer {service.key}"}
    api = f"{service.base}/api/image-studio"
    small, huge = io.BytesIO(), io.BytesIO()
    Image.new("RGB", (200, 150), (40, 90, 160)).save(small, "PNG")
    Image.new("L", (4000, 3000)).save(huge, "PNG")
    presigned = httpx.post(
        f"{api}/uploads", headers=auth, json={"content_type": "image/png", "bytes": 100_000}
    )
    assert presigned.status_code == 201, presigned.text
    upload = presigned.json()
    assert httpx.put(
        upload["put_url"], content=small.getvalue(), headers={"content-type": "image/png"}
    ).is_success
    job = {"image": upload["id"], "mode": "fast", "path": "local"}
    first = httpx.post(f"{api}/upscale", headers=auth, json=job, timeout=30)
    assert first.status_code == 202, first.text
    assert wait_for_end(service, first.json()["id"], "the first job")["status"] == "succeeded"
    # What no link can do any more, done behind the service's back: the checked object rewritten.
    (checked,) = (service.folder / ".imagestudio").rglob(f"{upload['id']}-*.png")
    checked.write_bytes(huge.getvalue())
    second = httpx.post(f"{api}/upscale", headers=auth, json=job, timeout=30)
    assert second.status_code == 202, second.text
    ended = wait_for_end(service, second.json()["id"], "the job on the rewritten upload")
    assert matches(example, ended), json.dumps(ended.get("error"))


def test_the_failed_job_example_is_what_a_truncated_jpeg_gives(service: Service) -> None:
    example = uploads_example("invalid-image")
    photo = (service.folder / "photo.jpg").read_bytes()
    answer = httpx.post(
        f"{service.base}/api/image-studio/social/optimize",
        headers={"Authorization": f"Bearer {service.key}"},
        files={"image": ("photo.jpg", photo[: len(photo) // 2])},
        data={"formats": "instagram.story"},
        timeout=30,
    )
    assert answer.status_code == 202, answer.text
    job = wait_for_end(service, answer.json()["id"], "the truncated JPEG's job to end")
    assert matches(example, job), (example, job)


def test_a_rooms_block_naming_a_missing_folder_or_file_fails() -> None:
    check_rooms(Block("docs/x.md", 1, 1, "text rooms", "shared/imagestudio/\n  studios/  cli/\n"))
    with pytest.raises(AssertionError, match="ghost.py"):
        check_rooms(Block("docs/x.md", 1, 1, "text rooms", "studios/\n  nosuchroom/  ghost.py\n"))
