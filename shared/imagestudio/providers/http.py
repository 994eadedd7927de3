"""The vendor clients' shared HTTP plumbing: pooled ``httpx.Client``, size cap, error mapping.

Every vendor client is a synchronous ``httpx.Client`` wrapper (workers are Dramatiq threads)
built on :class:`HttpProvider`, which owns connection pooling, explicit timeouts, the
injectable transport and the mapping of HTTP failures onto the ``ProviderError`` tree::

    transport error (connect, read, ...)   -> ProviderUnavailable
    httpx.TimeoutException, 408            -> ProviderTimeout
    404 on a POST (a model call), 410       -> ProviderModelGone (the model or route is not served)
    400 / 404 / 413 / 422                  -> ProviderBadRequest (with the provider's reason)
    401 / 402                              -> ProviderBadRequest ("rejected the credentials/billing")
    403                                    -> ProviderContentFiltered when it is moderation,
                                              else the credentials error above
    429                                    -> ProviderRateLimited(retry_after=Retry-After)
    5xx                                    -> ProviderUnavailable(retry_after=Retry-After)
"""

from __future__ import annotations

import base64
import email.utils
import io
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal, Self, TypeVar

import httpx
from PIL import Image
from pydantic import BaseModel, ValidationError

from imagestudio.egress import EgressGuard, EgressRefused, GuardedTransport
from imagestudio.errors import (
    ProviderBadRequest,
    ProviderContentFiltered,
    ProviderError,
    ProviderModelGone,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnavailable,
)
from imagestudio.providers.schemas import GeneratedImage
from imagestudio.telemetry.tracing import no_propagation

__all__ = [
    "HttpProvider",
    "ModelStatus",
    "Probe",
    "data_uri",
    "describe_image",
    "looks_like_content_filter",
    "parse_retry_after",
]

_M = TypeVar("_M", bound=BaseModel)

#: Reason texts that mean a content filter refused the prompt or the output.
_CONTENT_FILTER_RE = re.compile(
    r"content[ _-]?(moderation|filter|polic)|moderation|safety[ _-]?(filter|checker|system)"
    r"|nsfw|flagged|content_filtered",
    re.IGNORECASE,
)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP-date)."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if math.isnan(seconds) or math.isinf(seconds):
        return None
    return max(0.0, seconds)


def looks_like_content_filter(reason: str) -> bool:
    """Whether a provider's reason text says its content filter refused the prompt or output."""
    return bool(_CONTENT_FILTER_RE.search(reason))


def describe_image(data: bytes, *, provider: str) -> tuple[int, int, str]:
    """``(width, height, content_type)`` of an image a provider returned (reads the header only)."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            content_type = Image.MIME.get(image.format or "", "application/octet-stream")
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise ProviderError(
            f"{provider} returned data that is not a decodable image", provider=provider
        ) from exc
    return width, height, content_type


def data_uri(data: bytes) -> str:
    """A ``data:`` URI for an uploaded image (providers accept these in place of a URL)."""
    _, _, content_type = describe_image(data, provider="")
    return f"data:{content_type};base64,{base64.b64encode(data).decode('ascii')}"


def _json_reason(body: Any) -> str | None:
    """The human reason inside the error bodies the providers send."""
    if isinstance(body, str):
        return body
    if not isinstance(body, dict):
        return None
    errors = body.get("errors")
    if isinstance(errors, list) and errors:
        return "; ".join(str(error) for error in errors)
    for key in ("error", "message", "detail"):
        value = body.get(key)
        if isinstance(value, dict):
            nested = _json_reason(value)
            if nested:
                return nested
        elif isinstance(value, list) and value:
            return "; ".join(str(item) for item in value)
        elif value:
            return str(value)
    name = body.get("name")
    return str(name) if name else None


#: What a probe found: the vendor serves the model, refuses our key (or billing), no longer serves it,
#: or could not say (rate limited, down, timed out).
ModelStatus = Literal["served", "refused", "gone", "unavailable"]


@dataclass(frozen=True)
class Probe:
    """The cheapest call that tells whether a vendor serves a model, and the statuses it answers with.

    A POST probe carries a body the vendor refuses before any work (no prompt, no image): its
    validation error says the route is served, without a charge; a 404 or 410 says it is gone.
    """

    method: str
    path: str
    options: dict[str, Any] = field(default_factory=dict)
    expected: tuple[int, ...] = (200, 400, 404, 410, 422)


# --- the HTTP base ------------------------------------------------------------------------


class HttpProvider:
    """Shared plumbing of the vendor clients: one pooled ``httpx.Client`` and error mapping.

    Usage::

        client = StabilityClient(api_key="sk-...", timeout=30.0)
        images = client.generate(GenerationRequest(prompt="a lighthouse at dawn"))
        client.close()
    """

    name: str = "provider"
    default_model: str = ""
    #: The vendor's own address, used when no ``base_url`` is given (tests give a simulator's).
    default_base_url: ClassVar[str] = ""
    #: Headers the vendor asks every call to carry (besides authentication).
    headers: ClassVar[dict[str, str]] = {}
    #: Seconds between polls in ``wait`` when the caller gives none.
    poll_interval_seconds: float = 2.0
    #: Longest response body we accept (images included).
    max_response_bytes: ClassVar[int] = 64 * 1024 * 1024

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str | None = None,
        timeout: float = 60.0,
        transport: httpx.BaseTransport | None = None,
        max_connections: int = 20,
        egress_guard: EgressGuard | None = None,
    ) -> None:
        if not api_key:
            raise ValueError(f"{self.name}: api_key is required")
        self._api_key = api_key
        self.base_url = (base_url or self.default_base_url).rstrip("/")
        self.timeout = httpx.Timeout(timeout, connect=min(timeout, 10.0))
        self._client = httpx.Client(
            base_url=self.base_url,
            transport=transport,
            timeout=self.timeout,
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
            headers={"user-agent": "imagestudio/0.1", **self.headers},
            follow_redirects=False,
        )
        # Output URLs elsewhere than our configured base URL are the provider's choice (a CDN):
        # fetched only through the egress guard, at the address it checked.
        self._egress_guard = egress_guard or EgressGuard(allow_loopback=False)
        self._outputs = httpx.Client(
            transport=GuardedTransport(self._egress_guard, transport or httpx.HTTPTransport(retries=0)),
            timeout=self.timeout,
            headers={"user-agent": "imagestudio/0.1"},
            follow_redirects=False,
        )

    # -- lifecycle --

    def close(self) -> None:
        """Close the pooled connections."""
        self._client.close()
        self._outputs.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r})"

    # -- requests --

    def _auth_headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self._api_key}"}

    def _send(
        self,
        method: str,
        url: str,
        *,
        authenticated: bool = True,
        expected: Sequence[int] = (200,),
        headers: Mapping[str, str] | None = None,
        client: httpx.Client | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """Send one request with the client timeout; map transport failures and unexpected statuses.

        The body is streamed and read up to ``max_response_bytes``: a larger one fails the call
        once the cap is crossed, without reading (or holding) the rest.
        """
        client = client or self._client
        all_headers = {**(self._auth_headers() if authenticated else {}), **(headers or {})}
        request = client.build_request(method, url, headers=all_headers, timeout=self.timeout, **kwargs)
        try:
            with no_propagation():  # a vendor gets none of our trace context
                streamed = client.send(request, stream=True)
            try:
                body = self._read_capped(streamed)
            finally:
                streamed.close()
        except httpx.TimeoutException as exc:
            raise ProviderTimeout(
                f"{self.name} did not answer within the {self.timeout.read:g} s timeout", provider=self.name
            ) from exc
        except httpx.TransportError as exc:
            raise ProviderUnavailable(f"could not reach {self.name}: {exc}", provider=self.name) from exc
        except EgressRefused as exc:
            raise self._refused_output(url, exc) from exc
        # The body is already decoded: the copy keeps no encoding or length header to undo.
        response = httpx.Response(
            streamed.status_code,
            headers=[
                (name, value)
                for name, value in streamed.headers.multi_items()
                if name.lower() not in ("content-encoding", "content-length", "transfer-encoding")
            ],
            content=body,
            request=request,
            extensions={
                k: v for k, v in streamed.extensions.items() if k in ("http_reason_phrase", "http_version")
            },
        )
        if response.status_code not in expected:
            raise self._error_for(response)
        return response

    def _read_capped(self, response: httpx.Response) -> bytes:
        """The (decoded) body, refused as soon as it is declared or read past ``max_response_bytes``."""
        cap = self.max_response_bytes
        declared = response.headers.get("content-length", "").strip()
        if declared.isascii() and declared.isdigit() and (len(declared) > 18 or int(declared) > cap):
            raise self._oversize()
        chunks: list[bytes] = []
        total = 0
        for chunk in response.iter_bytes():
            total += len(chunk)
            if total > cap:
                raise self._oversize()
            chunks.append(chunk)
        return b"".join(chunks)

    def _reply(self, shape: type[_M], response: httpx.Response) -> _M:
        """The answer's JSON read as ``shape``; one that does not fit is a provider error."""
        try:
            return shape.model_validate_json(response.content)
        except ValidationError as exc:
            raise ProviderError(
                f"{self.name} sent a reply we cannot read: {exc}", provider=self.name
            ) from exc

    def _oversize(self) -> ProviderError:
        return ProviderError(
            f"{self.name} response exceeds {self.max_response_bytes} bytes", provider=self.name
        )

    def _refused_output(self, url: str, refused: EgressRefused) -> ProviderError:
        shown = url[:80]
        if not refused.permanent:  # the host did not resolve; DNS may recover
            return ProviderUnavailable(
                f"{self.name} output URL {shown}: {refused.reason}", provider=self.name
            )
        return ProviderError(
            f"{self.name} returned an output URL we will not fetch ({shown}): {refused.reason}",
            provider=self.name,
        )

    def _download_output(self, url: str) -> bytes:
        """An output the provider points to: a ``data:`` URI decoded, an http(s) URL fetched, anything else refused."""
        if url.startswith("data:"):
            return base64.b64decode(url.partition(",")[2])
        if not url.startswith(("https://", "http://")):
            raise ProviderError(
                f"{self.name} returned an output URL we will not fetch: {url[:80]}", provider=self.name
            )
        # Outputs live on a CDN: never send our API key there, and reach it only through the guard.
        return self._fetch_output(url)

    def _fetch_output(self, url: str) -> bytes:
        """Download an output the provider points us to, without our API key and under the size cap.

        On the configured base URL's origin it is fetched like any call to the provider (its
        simulator serves outputs there); anywhere else only through the egress guard.
        """
        target, base = httpx.URL(url), httpx.URL(self.base_url)
        if (target.scheme, target.host, target.port) == (base.scheme, base.host, base.port):
            return self._send("GET", url, authenticated=False).content
        try:
            self._egress_guard.check(url)  # a clear refusal before connecting; the transport checks again
        except EgressRefused as exc:
            raise self._refused_output(url, exc) from exc
        return self._send("GET", url, authenticated=False, client=self._outputs).content

    def _reason(self, response: httpx.Response) -> str:
        """The provider's own explanation of an error response."""
        try:
            reason = _json_reason(response.json())
        except ValueError:
            reason = None
        return (reason or response.text or response.reason_phrase or "no reason given").strip()[:1000]

    def _retry_after(self, response: httpx.Response) -> float | None:
        return parse_retry_after(response.headers.get("retry-after"))

    def _credentials_error(self, response: httpx.Response, reason: str) -> ProviderError:
        return ProviderBadRequest(
            f"{self.name} rejected the credentials/billing ({response.status_code}): {reason}",
            provider=self.name,
        )

    def _error_for(self, response: httpx.Response) -> ProviderError:
        """Our error for a provider's error response."""
        status = response.status_code
        reason = self._reason(response)
        if status in (401, 402):
            return self._credentials_error(response, reason)
        if status == 403:
            if looks_like_content_filter(reason):
                return ProviderContentFiltered(f"{self.name} content filter: {reason}", provider=self.name)
            return self._credentials_error(response, reason)
        if status == 429:
            retry_after = self._retry_after(response)
            return ProviderRateLimited(
                f"{self.name} rate limited the request: {reason}", retry_after=retry_after, provider=self.name
            )
        if status == 408:
            return ProviderTimeout(f"{self.name} timed out: {reason}", provider=self.name)
        if status >= 500:
            return ProviderUnavailable(
                f"{self.name} is unavailable ({status}): {reason}",
                retry_after=self._retry_after(response),
                provider=self.name,
            )
        if status == 410 or (status == 404 and response.request.method == "POST"):
            # Every model call is a POST: a 404 there is the model or route gone (Gemini's
            # "models/x is not found", WaveSpeed's "model not found"), a 410 a withdrawn model.
            # A GET 404 (a poll for an unknown id) stays a bad request.
            return ProviderModelGone(
                f"{self.name} no longer serves this model or route ({status}): {reason}", provider=self.name
            )
        if status in (400, 422) and looks_like_content_filter(reason):
            return ProviderContentFiltered(f"{self.name} content filter: {reason}", provider=self.name)
        if 400 <= status < 500:
            return ProviderBadRequest(
                f"{self.name} rejected the request ({status}): {reason}", provider=self.name
            )
        return ProviderError(f"{self.name} answered an unexpected {status}: {reason}", provider=self.name)

    def _image(self, data: bytes, *, model: str, seed: int | None) -> GeneratedImage:
        width, height, content_type = describe_image(data, provider=self.name)
        return GeneratedImage(
            data=data,
            content_type=content_type,
            width=width,
            height=height,
            seed=seed,
            provider=self.name,
            model=model,
        )

    # -- is the model served? --

    def check_model(self, model: str) -> tuple[ModelStatus, str]:
        """One cheap call (``_probe``) saying whether the vendor serves ``model``, and what it answered."""
        probe = self._probe(model)
        try:
            response = self._send(probe.method, probe.path, expected=probe.expected, **probe.options)
        except ProviderModelGone as exc:
            return "gone", exc.detail
        except (ProviderBadRequest, ProviderContentFiltered) as exc:
            return "refused", exc.detail  # the key, the billing or the account: not the model
        except ProviderError as exc:
            return "unavailable", exc.detail
        if response.status_code in (404, 410) or self._probe_says_gone(response):
            return "gone", f"{response.status_code}: {self._reason(response)}"
        return "served", f"{response.status_code}"

    def _probe(self, model: str) -> Probe:
        raise NotImplementedError(f"{self.name} has no probe")

    def _probe_says_gone(self, response: httpx.Response) -> bool:
        """Whether an answer the probe expected still says the model is gone (a vendor's own wording)."""
        return False

    def _in_range(self, bounds: tuple[float, float] | None, value: float, name: str, model: str) -> float:
        """``value`` when ``model`` takes it within ``bounds`` (inclusive); else refused before anything is sent
        (a vendor 400 can come after a charge)."""
        if bounds is not None and not bounds[0] <= value <= bounds[1]:
            raise ProviderBadRequest(
                f"{self.name} {model} takes {name} {bounds[0]:g} to {bounds[1]:g}, not {value:g}",
                provider=self.name,
            )
        return value

    def _resolve_model(self, model: str | None, known: Mapping[str, object]) -> str:
        chosen = model or self.default_model
        if chosen not in known:
            raise ProviderBadRequest(
                f"{self.name} has no model {chosen!r}; known: {', '.join(sorted(known))}", provider=self.name
            )
        return chosen
