"""One folder per studio (its face in ``__init__``, request, run), the machinery they share in ``common/``, the registry and the memory model."""
