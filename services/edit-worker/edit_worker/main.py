"""Entry point: configure the broker, then declare the edit studio's actors on it.

Run with `imagestudio worker edit`.
"""

import imagestudio.models  # noqa: F401  (every table registered before the first session)
from imagestudio.broker import configure_broker
from imagestudio.messaging import Studio

configure_broker()

from edit_worker import actors  # noqa: E402,F401  (actors bind to the broker configured above)

QUEUES = [Studio.edit.value]
