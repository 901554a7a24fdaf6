"""The one place that talks to the container engine (the engine room).

Every SDK call goes through this package, inside ``_translated``
(``connection``), which turns engine errors into this driver's Nova
exceptions by type and status code. Containers are addressed by a name
derived from the instance uuid, so each operation is one engine call. The
calls are grouped by concern: ``containers``, ``guest`` (inside a
container), ``images``, ``rescue``; ``Engine`` is all of them on one
connection.
"""

from nova_docker.engine.connection import Connection
from nova_docker.engine.containers import ContainerCalls
from nova_docker.engine.containers import ContainerRow  # noqa: F401
from nova_docker.engine.guest import GuestCalls
from nova_docker.engine.images import ImageCalls
from nova_docker.engine.rescue import RescueCalls


class Engine(Connection, ContainerCalls, GuestCalls, ImageCalls,
             RescueCalls):
    """One engine: its connection and every call this driver makes."""
