"""Fault injection for the crash tests: nova-compute killed mid-operation.

Off unless the environment variable ``NOVA_DOCKER_CRASH_AT`` names one of
the points below; only the tests set it (for a nova-compute they start).
At that point the process sends itself SIGKILL, exactly what ``kill -9``
does: no cleanup code, no ``finally``, no log flush beyond what is written.
The tests then start nova-compute again and check that the server ends
ACTIVE or in ERROR and that nothing is left behind.
"""

import os
import signal

from oslo_log import log as logging

LOG = logging.getLogger(__name__)

ENVIRONMENT = 'NOVA_DOCKER_CRASH_AT'

# The first chunk of a Glance image is in the staging file.
IMAGE_DOWNLOAD = 'image-download'
# A port's veth pair exists and its host end is on the switch; the other
# end is not yet in the namespace.
PORT_PLUG = 'port-plug'
# The infra container runs with every port plugged; no workload yet.
INFRA_CREATED = 'infra-created'
# The snapshot is committed and its first chunk is on its way to Glance.
SNAPSHOT_UPLOAD = 'snapshot-upload'


def reached(point):
    if os.environ.get(ENVIRONMENT) == point:
        LOG.warning('Crash point %s reached: this process kills itself '
                    '(%s is set)', point, ENVIRONMENT)
        os.kill(os.getpid(), signal.SIGKILL)


def after_first(chunks, point):
    """Pass chunks through; the point is reached after the first one."""
    for index, chunk in enumerate(chunks):
        yield chunk
        if index == 0:
            reached(point)
