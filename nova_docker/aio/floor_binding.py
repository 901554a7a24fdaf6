"""An ML2 mechanism driver for the boot benchmark's floor, and nothing else.

``benchmarks/aio_boot.py --floor --network private`` compares boots on the
Docker host with boots on a second nova-compute running Nova's fake driver
(benchmarks/floor.py). That host has no Open vSwitch agent, so ML2/OVS
cannot bind its ports and the boot would fail with a binding error. While
the benchmark runs, neutron-server loads this driver after ``openvswitch``
(setup.cfg names it ``nova_docker_floor``); it binds the ports of a host
that has no Open vSwitch agent at all, as ``ovs`` with the port already
ACTIVE, since no agent will ever wire it. So the floor's boots include
Neutron's port create and binding, and Neutron's status notification to
Nova, and only the driver's own work (and the agent's wiring) is left out.
The benchmark restarts Neutron without it when it is done: a host whose
agent is missing must never get bound ports in a real cloud.
"""

from neutron_lib.api.definitions import portbindings
from neutron_lib import constants
from neutron_lib.plugins.ml2 import api

NAME = 'nova_docker_floor'


class FloorBinding(api.MechanismDriver):

    def initialize(self):
        pass

    def bind_port(self, context):
        # A host with an agent is the agent's driver's business: bound or
        # failed, never by us.
        if not context.host or context.host_agents(constants.AGENT_TYPE_OVS):
            return
        for segment in context.segments_to_bind:
            context.set_binding(
                segment[api.ID], portbindings.VIF_TYPE_OVS,
                {portbindings.CAP_PORT_FILTER: True,
                 portbindings.OVS_HYBRID_PLUG: False},
                status=constants.PORT_STATUS_ACTIVE)
            return
