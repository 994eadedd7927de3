"""The chaos suite: the real system on private PostgreSQL, RabbitMQ and S3 servers, under faults.

``harness.py`` runs it and checks the invariants, ``services.py`` owns the private servers,
``test_chaos.py`` is the small run in ``make test`` and ``python -m chaos`` the full one
(``make chaos``). See docs/chaos.md.
"""
