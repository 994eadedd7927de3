"""Entry point of the webhooks worker: configure the broker, then declare ``webhooks.deliver`` on it.

Run with ``imagestudio worker webhooks``. Webhooks get their own process and queue so a slow
receiver never holds up image work.
"""

import imagestudio.models  # noqa: F401  (every table registered before the first session)
from imagestudio.broker import configure_broker
from imagestudio.messaging import WEBHOOKS_QUEUE

configure_broker()

from imagestudio.webhooks import actors  # noqa: E402,F401  (actors bind to the broker configured above)

QUEUES = [WEBHOOKS_QUEUE]
