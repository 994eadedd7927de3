"""Entry point: configure the broker, then declare the create studio's actors on it.

Run with `imagestudio worker create`.
"""

import imagestudio.models  # noqa: F401  (every table registered before the first session)
from imagestudio.broker import configure_broker
from imagestudio.messaging import Studio

configure_broker()

from create_worker import actors  # noqa: E402,F401  (actors bind to the broker configured above)

QUEUES = [Studio.create.value]
