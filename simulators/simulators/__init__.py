"""Local SIMULATORS of the AI providers' HTTP APIs, for tests and the embedded default — not the real services.

Each simulator speaks its provider's wire protocol (paths, auth header, bodies, status codes,
async ids and polling) but renders synthetic images, labels every answer with
``X-Simulator: <provider>-simulator`` and takes scripted faults (``faults.py``).

::

    stability.py    StabilitySimulator     v2beta generate/edit/upscale/control, /v2beta/results/{id}
    wavespeed.py    WaveSpeedSimulator     /api/v3/{model}, /api/v3/predictions/{id}/result, /outputs/...
    huggingface.py  HuggingFaceSimulator   router: /fal-ai/{id}, /hf-inference/models/{id}, 410 gone
    gemini.py       GeminiSimulator        /v1beta/models/{model}:generateContent (shut-down ids 404)
    render.py       deterministic renders and edit/upscale transforms
    faults.py       Fault, FaultScript, CallLog, SimulatorHarness (control API, X-Simulator)
    server.py       run_in_thread(app) -> RunningSimulator, start_all(), InProcessTransport(app)
"""

from simulators.faults import Fault
from simulators.gemini import GeminiSimulator
from simulators.huggingface import HuggingFaceSimulator
from simulators.server import InProcessTransport, RunningSimulator, SimulatorFleet, run_in_thread, start_all
from simulators.stability import StabilitySimulator
from simulators.wavespeed import WaveSpeedSimulator

__all__ = [
    "Fault",
    "GeminiSimulator",
    "HuggingFaceSimulator",
    "InProcessTransport",
    "RunningSimulator",
    "SimulatorFleet",
    "StabilitySimulator",
    "WaveSpeedSimulator",
    "run_in_thread",
    "start_all",
]
