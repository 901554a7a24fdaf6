"""An instance's network namespace, owned by an infra container.

Design (as Kubernetes pods): each instance is two containers. The infra
container (``nova-<uuid>-infra``) runs a pause process in a namespace the
engine gives no network (``network_mode=none``: loopback only, never
docker0); the driver plugs Neutron's ports into that namespace. The
workload (``nova-<uuid>``) is created afterwards with
``network_mode=container:<infra>``, so:

- it never starts before its NICs exist: spawn plugs, then starts it;
- its NICs survive its stop/start and soft/hard reboot, which only touch
  the workload: the namespace lives as long as the infra process;
- hostname, DNS servers and /etc/hosts are set once on the infra
  container, whose files the workload shares.

When the infra process itself went away (host reboot, engine restart),
``ensure`` starts it again and plugs every port into its new namespace
before the workload starts.

A server booted without ports gets no infra container: its workload runs
alone with ``network_mode=none``, so spawning it costs one container, not
two. It cannot take hot-plugged ports (there is no namespace that would
outlive a restart to plug them into); attaching one fails clearly.
"""

import contextlib

from nova import exception as nova_exception
from oslo_log import log as logging
from oslo_utils import excutils

from nova_docker import crashpoint
from nova_docker import exception
from nova_docker import infra
from nova_docker import naming
from nova_docker import netplan
from nova_docker import network
from nova_docker import spec

LOG = logging.getLogger(__name__)

# What Pods.ensure did to an instance's network namespace.
SAME, RESTARTED, REMADE = 'same', 'restarted', 'remade'


class Pods(object):

    def __init__(self, engine, host):
        self._engine = engine
        self._host = host
        self._image = None
        self._docker_conf = None
        network.initialize()

    def init_host(self, host, docker_conf):
        self._host = host
        self._docker_conf = docker_conf

    def ensure_image(self):
        """Load the infra image now (once the engine answers) rather than
        at the first boot with ports."""
        self._image = infra.ensure_image(self._engine, self._docker_conf)
        LOG.info('Infra image for network namespaces: %s', self._image)

    def create(self, instance, network_info, docker_conf, wait_for_events):
        """Create the infra container and plug every port into it; returns
        the infra container's name for the workload to join, or None for a
        server without ports (see ``creating``)."""
        with self.creating(instance, network_info, docker_conf,
                           wait_for_events) as infra:
            return infra

    @contextlib.contextmanager
    def creating(self, instance, network_info, docker_conf,
                 wait_for_events):
        """Create the infra container, plug every port into it, then run
        the body of the with statement (given the infra container's name
        for the workload to join) before the wait for Neutron's
        network-vif-plugged ends, as libvirt defines a domain paused while
        it waits: creating the workload then overlaps the agent's wiring.

        A server without ports gets None: it runs alone with no network
        (one container, as fast to spawn as a bare docker run) and cannot
        take hot-plugged ports.

        ``wait_for_events`` is a context manager factory taking the events
        to wait for. Anything created here is removed again if a step, or
        the body, fails.
        """
        if not network_info:
            yield None
            return
        network.check_supported(instance, network_info)
        plan = netplan.plan(network_info)
        args = spec.infra(instance, self._host, plan.dns,
                          [a for i in plan.interfaces
                           for a, _ in i.addresses],
                          docker_conf.log_max_size)
        try:
            if self._image is None:
                self._image = infra.ensure_image(self._engine, docker_conf)
            netns = self._engine.create_infra(instance.uuid, self._image, args)
            with wait_for_events(network.events_to_wait_for(network_info)):
                network.plug(instance, network_info, netns)
                crashpoint.reached(crashpoint.INFRA_CREATED)
                yield naming.infra_name(instance.uuid)
        except Exception:
            with excutils.save_and_reraise_exception():
                self._engine.remove_infra(instance.uuid)

    def ensure(self, instance, network_info):
        """Infra running and every port plugged, before the workload
        (re)starts. Returns what became of the namespace: SAME, RESTARTED
        (a new namespace in the same infra container: a workload still
        running sits in the old one) or REMADE (a new infra container: the
        workload must be made again to join it, see Engine.rejoin)."""
        netns = self._engine.infra_netns(instance.uuid)
        if netns is not None:
            network.ensure(instance, network_info or [], netns)
            return SAME
        try:
            netns = self._engine.start_infra(instance.uuid)
        except nova_exception.InstanceNotFound:
            if not network_info:
                return SAME   # booted without ports: no infra to start
            LOG.warning('The infra container was gone: making it again',
                        instance=instance)
            # A workload still running holds the old namespace and with it
            # the old veth pairs: remove them before plugging anew.
            network.unplug(instance, network_info)
            self.create(instance, network_info, self._docker_conf,
                        _no_events)
            return REMADE
        LOG.info('Started the infra container again', instance=instance)
        network.ensure(instance, network_info or [], netns)
        return RESTARTED

    def remove(self, instance, network_info):
        """Unplug every port and remove the infra container; idempotent.
        A switch that stays unreachable (os-vif waits for it) does not
        stop a delete: the devices are gone, its port entry is logged."""
        try:
            network.unplug(instance, network_info or [])
        except exception.NetworkUnplugFailed as e:
            LOG.error('%s; the veth pairs are removed, the switch may keep '
                      'a port entry', e, instance=instance)
        finally:
            self._engine.remove_infra(instance.uuid)

    def park(self, instance, network_info):
        """Unplug every port and stop the infra container, keeping it (a
        server moving away may come back on a revert; ``ensure`` then
        starts it and plugs the ports again)."""
        network.unplug(instance, network_info or [])
        self._engine.stop_infra(instance.uuid)

    def attach(self, instance, vif):
        netns = self._engine.infra_netns(instance.uuid)
        if netns is None:
            try:
                netns = self._engine.start_infra(instance.uuid)
            except nova_exception.InstanceNotFound:
                raise exception.NoNetworkNamespace(
                    instance_uuid=instance.uuid)
        return network.attach(instance, vif, netns)

    def detach(self, instance, vif):
        iface = netplan.interface(vif, 0)
        network.unplug_one(instance, vif, iface)


@contextlib.contextmanager
def _no_events(events):
    """A namespace made again plugs ports Neutron already reported bound:
    no network-vif-plugged to wait for."""
    yield
