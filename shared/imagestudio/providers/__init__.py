"""AI image providers: synchronous vendor clients behind one protocol, the catalogue, and resilience.

::

    schemas.py      GenerationRequest, GeneratedImage, EditRequest, GeneralEditRequest, UpscaleRequest,
                    PendingResult, ModelInfo (what crosses the boundary)
    protocols.py    ImageProvider, GenerationSubmitter, Editor, PromptEditor, Upscaler, PollingProvider
                    (one protocol per capability) and the bounded poll loop
    http.py         HttpProvider: pooled HTTP, size cap, error mapping; Retry-After parsing
    sizing.py       aspect ratios and sizes a provider accepts
    stability.py    StabilityClient     v2beta generate, edit, upscale, control, /v2beta/results/{id}
    wavespeed.py    WaveSpeedClient     /api/v3/{model} submit, /predictions/{id}/result poll
    huggingface.py  HuggingFaceClient   the router: a provider per model (fal-ai, hf-inference)
    gemini.py       GeminiClient        :generateContent image models (text- and image-to-image)
    registry.py     the catalogue: CATALOGUE, PROVIDERS, the quality table (QUALITY_ROWS), build_providers
    selection.py    create's auto selection: aspect fit, plan() -> ordered candidates
    directory.py    where each provider is reached (settings or a simulator), pooled clients
    resilience.py   RetryPolicy, call_with_retries, CircuitBreaker, CircuitStore
    health.py       DatabaseCircuitStore (breaker state shared by every process), breaker_for, provider_health
    execution.py    ProviderExecutor: the one call engine (retries, Retry-After, breaker, fallback) for
                    create, edit and upscale; create's batches
"""

from imagestudio.providers.gemini import GeminiClient
from imagestudio.providers.http import HttpProvider, parse_retry_after
from imagestudio.providers.huggingface import HuggingFaceClient
from imagestudio.providers.protocols import ImageProvider, PollingProvider
from imagestudio.providers.registry import (
    CATALOGUE,
    QUALITY_MODELS,
    ProviderConfig,
    build_providers,
    candidates,
    find_model,
    get_model,
    models_for,
)
from imagestudio.providers.resilience import (
    CircuitBreaker,
    CircuitOpen,
    CircuitState,
    CircuitStore,
    InMemoryCircuitStore,
    RetryPolicy,
    call_with_retries,
)
from imagestudio.providers.schemas import (
    ControlRequest,
    EditRequest,
    GeneralEditRequest,
    GeneratedImage,
    GenerationRequest,
    ModelInfo,
    PendingResult,
    UpscaleRequest,
)
from imagestudio.providers.stability import StabilityClient
from imagestudio.providers.wavespeed import WaveSpeedClient

__all__ = [
    "CATALOGUE",
    "QUALITY_MODELS",
    "CircuitBreaker",
    "CircuitOpen",
    "CircuitState",
    "CircuitStore",
    "ControlRequest",
    "EditRequest",
    "GeminiClient",
    "GeneralEditRequest",
    "GeneratedImage",
    "GenerationRequest",
    "HttpProvider",
    "HuggingFaceClient",
    "ImageProvider",
    "InMemoryCircuitStore",
    "ModelInfo",
    "PendingResult",
    "PollingProvider",
    "ProviderConfig",
    "RetryPolicy",
    "StabilityClient",
    "UpscaleRequest",
    "WaveSpeedClient",
    "build_providers",
    "call_with_retries",
    "candidates",
    "find_model",
    "get_model",
    "models_for",
    "parse_retry_after",
]
