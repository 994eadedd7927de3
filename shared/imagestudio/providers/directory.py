"""Where each provider is reached in this process (settings or a labelled local simulator), and the pooled clients."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from pydantic import SecretStr

from imagestudio.config import Settings, get_settings
from imagestudio.providers.registry import PROVIDER_CLASSES, PROVIDERS, ProviderClient

__all__ = ["ClientPool", "Endpoint", "LabelTransport", "ProviderDirectory", "provider_directory"]


@dataclass(frozen=True)
class Endpoint:
    """How this process reaches one provider."""

    provider: str
    base_url: str
    api_key: SecretStr = field(repr=False)
    #: A labelled local simulator (started by ``imagestudio up`` or a test), not the provider.
    simulated: bool = False
    #: Test hook: an in-process transport instead of sockets.
    transport: httpx.BaseTransport | None = field(default=None, compare=False, repr=False)


class ProviderDirectory:
    """Configured providers from settings, plus the local simulators this process was given."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._simulators: dict[str, Endpoint] = {}

    def use_simulators(self, config: Mapping[str, Mapping[str, Any]]) -> None:
        """Reach these providers through local simulators (``{name: {api_key, base_url, transport?}}``)."""
        with self._lock:
            for name, values in config.items():
                self._simulators[name] = Endpoint(
                    provider=name,
                    base_url=str(values["base_url"]),
                    api_key=SecretStr(str(values["api_key"])),
                    simulated=True,
                    transport=values.get("transport"),
                )

    def clear_simulators(self) -> None:
        with self._lock:
            self._simulators.clear()

    def endpoint(self, provider: str, settings: Settings | None = None) -> Endpoint | None:
        """A configured key wins over a simulator; ``None`` when the provider cannot be reached."""
        settings = settings or get_settings()
        key: SecretStr = getattr(settings, f"{provider}_api_key")
        if key.get_secret_value().strip():
            return Endpoint(
                provider=provider, base_url=getattr(settings, f"{provider}_base_url"), api_key=key
            )
        with self._lock:
            return self._simulators.get(provider)

    def available(self, settings: Settings | None = None) -> dict[str, Endpoint]:
        return {name: ep for name in PROVIDERS if (ep := self.endpoint(name, settings)) is not None}


provider_directory = ProviderDirectory()


class LabelTransport(httpx.BaseTransport):
    """Passes requests through and notes whether answers carry a simulator's ``X-Simulator`` label."""

    def __init__(self, inner: httpx.BaseTransport, *, owned: bool) -> None:
        self._inner = inner
        #: Close ``inner`` with us only when we made it (an injected transport belongs to its giver).
        self._owned = owned
        self.simulator_seen = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._inner.handle_request(request)
        if response.headers.get("x-simulator"):
            self.simulator_seen = True
        return response

    def close(self) -> None:
        if self._owned:
            self._inner.close()


class ClientPool:
    """One pooled client per endpoint, shared by the worker's threads (httpx clients are thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._clients: dict[tuple[Any, ...], tuple[ProviderClient, LabelTransport]] = {}

    def get(self, endpoint: Endpoint, timeout: float) -> tuple[ProviderClient, LabelTransport]:
        key = (
            endpoint.provider,
            endpoint.base_url,
            endpoint.api_key.get_secret_value(),
            timeout,
            id(endpoint.transport),
        )
        with self._lock:
            found = self._clients.get(key)
            if found is None:
                inner = endpoint.transport or httpx.HTTPTransport(
                    limits=httpx.Limits(max_connections=20, max_keepalive_connections=20)
                )
                transport = LabelTransport(inner, owned=endpoint.transport is None)
                client = PROVIDER_CLASSES[endpoint.provider](
                    api_key=endpoint.api_key.get_secret_value(),
                    base_url=endpoint.base_url,
                    timeout=timeout,
                    transport=transport,
                )
                found = self._clients[key] = (client, transport)
            return found

    def close(self) -> None:
        with self._lock:
            for client, _ in self._clients.values():
                client.close()
            self._clients.clear()
