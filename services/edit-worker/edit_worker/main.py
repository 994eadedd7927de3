"""Entry point: the broker configured, the edit studio's actors declared on it (the call ``imagestudio worker edit`` makes).

Written by `imagestudio deploy render` from the studio registry: edit the studio, not this file.
"""

from imagestudio.messaging import Studio
from imagestudio.studio_worker import run_studio_worker

QUEUES = run_studio_worker(Studio.edit)
