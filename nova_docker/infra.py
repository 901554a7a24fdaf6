"""The infra container: everything about it, in one place.

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

The infra ("pause") image is made on this host from a static binary: it
never comes from a registry. The driver builds it from a static pause
binary on the compute host (Debian's ``catatonit``, run as ``catatonit
-P``) as a one-layer ``docker save`` archive with fixed timestamps, so
the same binary always gives the same image id: compute services
starting side by side on one engine load one image, not one each.
"""

import contextlib
import hashlib
import io
import json

from nova import exception as nova_exception
from oslo_log import log as logging
from oslo_utils import excutils
from oslo_utils import units

from nova_docker import archive as archives
from nova_docker import crashpoint
from nova_docker import etcfiles
from nova_docker import exception
from nova_docker import naming
from nova_docker import netplan
from nova_docker import network
from nova_docker import spec

LOG = logging.getLogger(__name__)


# What NetworkNamespaces.ensure did to an instance's network namespace.
SAME, RESTARTED, REMADE = 'same', 'restarted', 'remade'


class NetworkNamespaces(object):
    """The one owner of every server's network namespace on this host:
    its infra container, and the ports plugged into it."""

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
        self._image = ensure_image(self._engine, self._docker_conf)
        LOG.info('Infra image for network namespaces: %s', self._image)

    def create(self, instance, network_info, docker_conf, wait_for_events):
        """Create the infra container and plug every port into it; returns
        the infra container's name for the workload to join, or None for a
        server without ports (see ``creating``)."""
        with self.creating(instance, network_info, docker_conf,
                           wait_for_events) as infra_name:
            return infra_name

    def creating(self, instance, network_info, docker_conf,
                 wait_for_events):
        """Create the infra container, plug every port into it, then run
        the body of the with statement (given the infra container's name
        for the workload to join) before the wait for Neutron's
        network-vif-plugged ends, as libvirt defines a domain paused while
        it waits: creating the workload then overlaps the agent's wiring.

        While Nova is still allocating the ports (``network_info`` is its
        NetworkInfoAsyncWrapper, not answered yet), the infra container is
        created and started first and the ports awaited after: the
        engine's work overlaps Neutron's port create and binding. Their
        addresses and DNS servers go into files of the server's (see
        etcfiles), not into the infra container's create arguments.

        A server without ports gets None: it runs alone with no network
        (one container, as fast to spawn as a bare docker run) and cannot
        take hot-plugged ports.

        ``wait_for_events`` is a context manager factory taking the events
        to wait for. Anything created here is removed again if a step, or
        the body, fails.
        """
        early = allocating(network_info)
        if not (early or network_info):
            return _no_infra()
        if not early:
            network.check_supported(instance, network_info)
        return self._creating(instance, network_info, docker_conf,
                              wait_for_events)

    @contextlib.contextmanager
    def _creating(self, instance, network_info, docker_conf,
                  wait_for_events):
        args = create_args(instance, self._host, docker_conf.log_max_size)
        try:
            if self._image is None:
                self._image = ensure_image(self._engine, docker_conf)
            netns = self._engine.create_infra(instance.uuid, self._image, args)
            # Nova's allocation errors raise here.
            if not network_info:
                # Nova allocated no port after all.
                self._engine.remove_infra(instance.uuid)
                yield None
                return
            network.check_supported(instance, network_info)
            plan = netplan.plan(network_info)
            etcfiles.write(instance, plan)
            with wait_for_events(network.events_to_wait_for(network_info)):
                network.plug(instance, network_info, plan, netns)
                crashpoint.reached(crashpoint.INFRA_CREATED)
                yield naming.infra_name(instance.uuid)
        except Exception:
            with excutils.save_and_reraise_exception():
                try:
                    self._engine.remove_infra(instance.uuid)
                except exception.EngineError as e:
                    # Podman refuses to remove a namespace owner while the
                    # workload made meanwhile joins it: the spawn's undo
                    # removes both, the workload first. The spawn's own
                    # error is what Nova must see.
                    LOG.debug('Infra container left to the undo: %s', e,
                              instance=instance)

    def ensure(self, instance, network_info):
        """Infra running and every port plugged, before the workload
        (re)starts. Returns what became of the namespace: SAME, RESTARTED
        (a new namespace in the same infra container: a workload still
        running sits in the old one) or REMADE (a new infra container: the
        workload must be made again to join it, see Engine.rejoin)."""
        plan = netplan.plan(network_info)
        netns = self._engine.infra_netns(instance.uuid)
        if netns is not None:
            network.ensure(instance, network_info or [], plan, netns)
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
            network.unplug(instance, network_info, plan)
            with self._creating(instance, network_info, self._docker_conf,
                                _no_events):
                pass
            return REMADE
        LOG.info('Started the infra container again', instance=instance)
        network.ensure(instance, network_info or [], plan, netns)
        return RESTARTED

    def remove(self, instance, network_info, unplug=True):
        """Unplug every port (unless ``unplug`` is False: Nova keeps them
        for the server's next host) and remove the infra container, the
        namespace going with it; idempotent. A switch that stays
        unreachable (os-vif waits for it) does not stop a delete: the
        devices are gone, its port entry is logged."""
        try:
            if unplug:
                self.unplug(instance, network_info)
        except exception.NetworkUnplugFailed as e:
            LOG.error('%s; the veth pairs are removed, the switch may keep '
                      'a port entry', e, instance=instance)
        finally:
            self._engine.remove_infra(instance.uuid)

    def remove_left_behind(self, instance):
        """Remove what a server evacuated while this host was down left
        here: its infra container and its ports on this host's switch.
        Nova's network info has the ports as the server's new host binds
        them, so they are found here by what this host made: the NICs in
        the infra container's namespace (if it still runs), then the
        switch ports naming the instance whose veth is gone."""
        netns = self._engine.infra_netns(instance.uuid)
        if netns is not None:
            network.remove_from_netns(netns)
        self._engine.remove_infra(instance.uuid)
        try:
            port_ids = network.remove_switch_ports(instance.uuid,
                                                   keep_in_use=True)
        except Exception:  # noqa: B902 - ovsdbapp's errors have no base
            # nova-compute must start all the same; the row is logged.
            LOG.exception('Removing the switch ports the evacuated server '
                          'left here failed', instance=instance)
            return
        LOG.info('Removed what the server left here before it was '
                 'evacuated: containers, switch ports %s', port_ids,
                 instance=instance)

    def unplug(self, instance, network_info):
        """Unplug every port; the infra container stays."""
        network.unplug(instance, network_info or [],
                       netplan.plan(network_info))

    def park(self, instance, network_info):
        """Unplug every port and stop the infra container, keeping it (a
        server moving away may come back on a revert; ``ensure`` then
        starts it and plugs the ports again)."""
        self.unplug(instance, network_info)
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


def allocating(network_info):
    """Whether Nova is still allocating the server's ports: its
    NetworkInfoAsyncWrapper holds the allocation's future until waited
    for (a boot with ``--nic none`` has one too, answered at once)."""
    future = getattr(network_info, '_future', None)
    return future is not None and not future.done()


@contextlib.contextmanager
def _no_infra():
    yield None


@contextlib.contextmanager
def _no_events(events):
    """A namespace made again plugs ports Neutron already reported bound:
    no network-vif-plugged to wait for."""
    yield


# The infra container only holds a namespace: a few MB and processes do.
INFRA_MEMORY_MB = 16
INFRA_PIDS_LIMIT = 8


def create_args(instance, host, log_max_size):
    """Create arguments of the infra container that owns the instance's
    network namespace. The engine gives it no network (``none``: only
    loopback, never docker0); the driver plugs Neutron's ports into it.
    The hostname lives here because a container joining another's network
    namespace takes it (DNS servers and /etc/hosts: see etcfiles)."""
    hostname, domain = spec.names(instance)
    args = {
        'hostname': hostname,
        'labels': {
            naming.INFRA_FOR: instance.uuid,
            naming.COMPUTE_HOST: host,
        },
        'network_mode': 'none',
        'privileged': False,
        'cap_drop': ['ALL'],
        'read_only': True,
        'security_opt': ['no-new-privileges:true'],
        'ipc_mode': 'private',
        'mem_limit': INFRA_MEMORY_MB * units.Mi,
        'memswap_limit': INFRA_MEMORY_MB * units.Mi,
        'pids_limit': INFRA_PIDS_LIMIT,
        # The engine turns IPv6 off in namespaces it gives no IPv6
        # network; Neutron's IPv6 addresses need it on (the devices moved
        # in later take the namespace's defaults).
        # ARP only for a NIC's own addresses, from that NIC: with several
        # ports on one subnet, answers through the wrong port are what
        # Neutron's anti-spoofing drops (and they outlive a detach in
        # peers' ARP caches).
        'sysctls': {'net.ipv6.conf.all.disable_ipv6': '0',
                    'net.ipv6.conf.default.disable_ipv6': '0',
                    'net.ipv4.conf.all.arp_ignore': '1',
                    'net.ipv4.conf.all.arp_announce': '2',
                    **spec.PING_SYSCTL},
        'detach': True,
    }
    if domain:
        args['domainname'] = domain
    args.update(spec.logging(log_max_size))
    return args


# -- the image ---------------------------------------------------------

ENTRYPOINT = ['/pause', '-P']
# Fixed, so that the image id depends on the binary alone.
EPOCH = '1970-01-01T00:00:00Z'
# Kernel machine names -> the engine's architecture names.
_ARCH = {'x86_64': 'amd64', 'aarch64': 'arm64', 'ppc64le': 'ppc64le',
         's390x': 's390x'}


def ensure_image(engine, docker_conf):
    """The engine's id of the infra image, loaded if missing (containers
    are created from the id, which no later tag can move)."""
    if docker_conf.infra_image:
        image_id = engine.image_id(docker_conf.infra_image)
        if image_id is None:
            raise nova_exception.InvalidConfiguration(
                '[docker] infra_image %s is not in the %s; load it, or '
                'unset the option to build one from [docker] infra_binary'
                % (docker_conf.infra_image, engine.engine_name))
        return image_id
    binary = _read_binary(docker_conf.infra_binary)
    ref = naming.infra_image_reference(hashlib.sha256(binary).hexdigest())
    image_id = engine.image_id(ref)
    if image_id is None:
        # The engine's architecture, not ours: it may be a remote one.
        machine = engine.info().get('Architecture') or 'x86_64'
        engine.load_image(io.BytesIO(archive(binary, ref, machine)))
        image_id = engine.image_id(ref)
    return image_id


def _read_binary(path):
    try:
        with open(path, 'rb') as f:
            return f.read()
    except OSError as e:
        raise nova_exception.InvalidConfiguration(
            '[docker] infra_binary %s cannot be read (%s): install a static '
            'pause binary there (Debian: apt install catatonit) or set '
            '[docker] infra_image' % (path, e.strerror))


def archive(binary, ref, machine):
    """A ``docker save`` archive of one image holding ``/pause``."""
    layer = archives.tar_of({'pause': (binary, 0o755)})
    diff_id = 'sha256:' + hashlib.sha256(layer).hexdigest()
    config = _json({
        'architecture': _ARCH.get(machine, machine),
        'os': 'linux', 'created': EPOCH,
        'config': {'Entrypoint': ENTRYPOINT, 'Env': ['PATH=/'],
                   'Labels': {naming.LABEL_PREFIX + 'infra': 'true'}},
        'rootfs': {'type': 'layers', 'diff_ids': [diff_id]},
        'history': [{'created': EPOCH, 'created_by': 'nova-docker'}],
    })
    config_name = hashlib.sha256(config).hexdigest() + '.json'
    manifest = _json([{'Config': config_name, 'RepoTags': [ref],
                       'Layers': ['layer/layer.tar']}])
    return archives.tar_of({'manifest.json': (manifest, 0o644),
                            config_name: (config, 0o644),
                            'layer/layer.tar': (layer, 0o644)})


def _json(value):
    return json.dumps(value, sort_keys=True, separators=(',', ':')).encode()
