"""``imagestudio up`` on PostgreSQL and RabbitMQ runs the outbox relay in a process of its own:
restarted when it dies, gone when the gateway is, and jobs published meanwhile all the same."""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

import httpx
import psycopg
import pytest
from support import make_image, wait_for

from .conftest import Stack

pytestmark = pytest.mark.integration


def relay_children(parent: int) -> list[int]:
    """Processes whose parent is ``parent`` running ``imagestudio.cli relay``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        if ppid == parent and b"imagestudio.cli" in cmdline and b"relay" in cmdline:
            found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def ignores_sigint(pid: int) -> bool:
    """Whether ``pid`` has set SIGINT aside (its ``SigIgn`` mask in /proc)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    mask = int(re.search(r"^SigIgn:\s*([0-9a-f]+)$", status, re.M).group(1), 16)  # type: ignore[union-attr]
    return bool(mask & (1 << (signal.SIGINT - 1)))


def submit(stack: Stack) -> str:
    response = httpx.post(
        f"{stack.base_url}/api/image-studio/social/optimize",
        headers=stack.headers(),
        data={"formats": "instagram.feed_square"},
        files={"image": ("p.png", make_image(64, 64), "image/png")},
        timeout=30,
    )
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def published(stack: Stack, job_id: str) -> bool:
    with psycopg.connect(stack.services.database_url) as conn:
        row = conn.execute(
            "SELECT published_at IS NOT NULL FROM outbox WHERE kwargs->>'job_id' = %s", (job_id,)
        ).fetchone()
    return bool(row and row[0])


def test_the_gateway_runs_its_relay_beside_it_and_restarts_it(stack: Stack) -> None:
    gateway = stack.processes[0].proc
    wait_for(lambda: len(relay_children(gateway.pid)) == 1, timeout=20, what="the relay process")
    [first] = relay_children(gateway.pid)
    # The job sweeper stays in the gateway, whose /metrics reports it.
    assert b"--no-sweeper" in Path(f"/proc/{first}/cmdline").read_bytes().split(b"\0")
    job_id = submit(stack)
    wait_for(lambda: published(stack, job_id), timeout=10, what="a job published by the relay process")

    os.kill(first, signal.SIGKILL)
    wait_for(
        lambda: [p for p in relay_children(gateway.pid) if p != first and alive(p)],
        timeout=20,
        what="the relay restarted",
    )
    job_id = submit(stack)
    wait_for(lambda: published(stack, job_id), timeout=20, what="a job published by the new relay")
    assert "the outbox relay exited" in stack.processes[0].output()


def test_the_relay_goes_when_the_gateway_is_killed(stack: Stack) -> None:
    gateway = stack.processes[0]
    wait_for(lambda: len(relay_children(gateway.proc.pid)) == 1, timeout=20, what="the relay process")
    [relay] = relay_children(gateway.proc.pid)
    gateway.kill()
    wait_for(lambda: not alive(relay), timeout=10, what="the orphaned relay to exit")


@pytest.mark.gateway_env(IMAGESTUDIO_RELAY_PROCESS="false")
def test_the_relay_stays_in_the_gateway_when_told(stack: Stack) -> None:
    gateway = stack.processes[0].proc
    job_id = submit(stack)
    wait_for(lambda: published(stack, job_id), timeout=10, what="a job published by the in-process relay")
    assert relay_children(gateway.pid) == []


def test_a_gateway_stopped_by_sigterm_stops_its_relay(stack: Stack) -> None:
    gateway = stack.processes[0]
    wait_for(lambda: len(relay_children(gateway.proc.pid)) == 1, timeout=20, what="the relay process")
    [relay] = relay_children(gateway.proc.pid)
    gateway.stop()
    assert gateway.proc.returncode is not None
    wait_for(lambda: not alive(relay), timeout=5, what="the relay stopped with the gateway")


def test_ctrl_c_is_left_to_the_gateway(stack: Stack) -> None:
    """A terminal's Ctrl-C reaches the whole process group: the relay child ignores it (the gateway
    stops it), so it is not restarted while the gateway shuts down."""
    gateway = stack.processes[0]
    wait_for(lambda: len(relay_children(gateway.proc.pid)) == 1, timeout=20, what="the relay process")
    [relay] = relay_children(gateway.proc.pid)
    assert os.getpgid(relay) == relay != os.getpgid(gateway.proc.pid)  # a group's Ctrl-C misses it
    # Sent to the relay itself, SIGINT is ignored once the relay has started (it is set aside
    # before the relay's first sweep; until then only its own group stands between it and Ctrl-C).
    wait_for(lambda: ignores_sigint(relay), timeout=30, what="the relay to set SIGINT aside")
    os.kill(relay, signal.SIGINT)
    job_id = submit(stack)
    wait_for(lambda: published(stack, job_id), timeout=10, what="a job published after the SIGINT")
    assert alive(relay) and relay_children(gateway.proc.pid) == [relay]
    gateway.proc.send_signal(signal.SIGINT)
    gateway.proc.wait(30)
    wait_for(lambda: not alive(relay), timeout=10, what="the relay stopped by the gateway")
    assert "restarting" not in gateway.output()
