"""One real `imagestudio up` serves every SDK test; the SDK knows only its URL and a key.

Webhooks may reach loopback (``IMAGESTUDIO_WEBHOOK_ALLOW_LOOPBACK``), where the webhook tests listen,
and so may image URLs (``IMAGESTUDIO_REMOTE_IMAGE_ALLOW_LOOPBACK``), where the URL tests serve images.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sdk_service import Service
from support import LOOPBACK_TARGETS, imagestudio_up


@pytest.fixture(scope="session")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    folder = tmp_path_factory.mktemp("sdk-service")
    with imagestudio_up(folder, data_dir=folder / ".imagestudio", **LOOPBACK_TARGETS) as (base, _env):
        key = (folder / ".imagestudio" / "dev-api-key").read_text().strip()
        yield Service(base, key, folder)
