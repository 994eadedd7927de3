"""AI image providers: synchronous vendor clients behind one protocol, the catalogue, and resilience.

::

    base.py         GenerationRequest, GeneratedImage, EditRequest, UpscaleRequest, PendingResult,
                    ImageProvider / PollingProvider protocols, HttpProvider (HTTP + error mapping)
    stability.py    StabilityClient     v2beta generate, edit, upscale, /v2beta/results/{id}
    wavespeed.py    WaveSpeedClient     /api/v3/{model} submit, /predictions/{id}/result poll
    huggingface.py  HuggingFaceClient   /models/{id} raw bytes, 503 loading -> retry_after
    gemini.py       GeminiClient        Imagen :predict, base64 predictions
    registry.py     CATALOGUE, QUALITY_MODELS, build_providers(config)
    resilience.py   RetryPolicy, call_with_retries, CircuitBreaker, CircuitStore
    health.py       DatabaseCircuitStore: breaker state shared by every process (provider_health)
    execution.py    QUALITY_TABLE, auto selection (plan), ProviderExecutor: batches, retries, fallback
"""

from imagestudio.providers.base import (
    EditRequest,
    GeneralEditRequest,
    GeneratedImage,
    GenerationRequest,
    HttpProvider,
    ImageProvider,
    ModelInfo,
    PendingResult,
    PollingProvider,
    UpscaleRequest,
    parse_retry_after,
)
from imagestudio.providers.gemini import GeminiClient
from imagestudio.providers.huggingface import HuggingFaceClient
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
from imagestudio.providers.stability import StabilityClient
from imagestudio.providers.wavespeed import WaveSpeedClient

__all__ = [
    "CATALOGUE",
    "QUALITY_MODELS",
    "CircuitBreaker",
    "CircuitOpen",
    "CircuitState",
    "CircuitStore",
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
