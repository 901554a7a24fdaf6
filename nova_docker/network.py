"""Neutron ports into a network namespace: host side and container side.

For each port the driver makes a veth pair named after the port (see
netplan). The host end is wired up by os-vif the way Neutron's agents
expect a VM's tap: for ``ovs`` ports either added to the integration
bridge with the port's external ids (VIFOpenVSwitch), or, with hybrid plug
(VIFBridge), enslaved to the per-port Linux bridge that os-vif makes and
joins to OVS. The other end moves into the namespace and gets the port's
MAC, addresses, routes and MTU (privsep).

Every plug undoes what it made if a later step fails; every unplug is
idempotent, so cleanup after a failure, or of an instance whose namespace
is already gone, never leaves a device behind nor raises for what is
missing.
"""

import contextlib
import threading

from nova.network import model
from nova.network import os_vif_util
from nova import utils as nova_utils
from oslo_log import log as logging
from oslo_utils import excutils
import os_vif
from os_vif import exception as os_vif_exception
from os_vif.objects import vif as os_vif_objects
from oslo_config import cfg
from vif_plug_ovs.ovsdb import ovsdb_lib
from pyroute2 import NetlinkError

from nova_docker import crashpoint
from nova_docker import exception
from nova_docker import netplan
from nova_docker import privsep

LOG = logging.getLogger(__name__)

# What Neutron's current mechanism drivers bind (ML2/OVS, OVN), with or
# without hybrid plug. Nova 34 itself refuses Linux bridge ports.
SUPPORTED_VIF_TYPES = (model.VIF_TYPE_OVS,)
VIF_PLUGGED = 'network-vif-plugged'

_os_vif_lock = threading.Lock()
_os_vif_ready = False
_ovs = None
# os-vif calls pyroute2 in this process, which runs an asyncio loop per OS
# thread: in eventlet mode green threads share one, and two plugs at once
# (servers repaired in parallel) fail with "This event loop is already
# running". There, one plug or unplug at a time.
_os_vif_calls = threading.Lock()


@contextlib.contextmanager
def _one_at_a_time_if_green():
    if nova_utils.concurrency_mode_threading():
        yield
    else:
        with _os_vif_calls:
            yield


def initialize():
    """Load os-vif's plugins once per process."""
    global _os_vif_ready
    with _os_vif_lock:
        if not _os_vif_ready:
            os_vif.initialize()
            _os_vif_ready = True


def check_supported(instance, network_info):
    """Fail before anything is created if a port cannot be plugged."""
    for vif in network_info or []:
        if vif['type'] not in SUPPORTED_VIF_TYPES:
            raise exception.UnsupportedVIFType(
                instance_uuid=instance.uuid, port_id=vif['id'],
                vif_type=vif['type'],
                supported=', '.join(SUPPORTED_VIF_TYPES))


def events_to_wait_for(network_info):
    """Neutron sends network-vif-plugged for ports not yet active once
    their host side is wired up (as Nova's libvirt driver waits)."""
    return [(VIF_PLUGGED, vif['id']) for vif in network_info or []
            if vif.get('active', True) is False]


def plug(instance, network_info, plan, netns):
    """Plug every port into netns (the namespace's owner, [pid, container
    id]) as planned (``plan``: netplan.plan of network_info); on failure
    unplug those already plugged."""
    done = []
    try:
        for vif, iface in zip(network_info, plan.interfaces):
            plug_one(instance, vif, iface, netns)
            done.append((vif, iface))
    except Exception:
        with excutils.save_and_reraise_exception():
            for vif, iface in reversed(done):
                _unplug_quietly(instance, vif, iface)


def ensure(instance, network_info, plan, netns):
    """Make every port present in netns and wired on the host.

    Used when the namespace may have been recreated (host reboot, engine
    restart) and after a nova-compute restart. A port counts as present
    when a device with its MAC is in the namespace (hot-plugged NICs keep
    the name they got); its host side is plugged again, which os-vif does
    idempotently. Missing ports are plugged anew; a stale host end of a
    namespace being torn down is replaced.
    """
    if not network_info:
        return
    check_supported(instance, network_info)
    links = privsep.netns_links(netns)
    names = {name for name, _ in links}
    macs = {mac for _, mac in links}
    for vif, iface in zip(network_info, plan.interfaces):
        if iface.mac in macs:
            _plug_host(instance, vif, iface)
            continue
        if iface.name in names:
            iface = iface._replace(name=free_name(names))
        LOG.info('Plugging port %s again as %s', iface.port_id, iface.name,
                 instance=instance)
        # Drop what is left of the old wiring first: a userspace (netdev)
        # switch keeps a port's old device open until the port is removed.
        unplug_one(instance, vif, iface)
        plug_one(instance, vif, iface, netns)
        names.add(iface.name)


def attach(instance, vif, netns):
    """Hot-plug one port into a running namespace under the first free
    name. It never takes the default route from the NICs already there."""
    check_supported(instance, [vif])
    present = {name for name, _ in privsep.netns_links(netns)}
    index = int(free_name(present)[len(netplan.CONTAINER_PREFIX):])
    iface = netplan.interface(vif, index, default_routes={4, 6})
    plug_one(instance, vif, iface, netns)
    return iface


def free_name(present):
    index = 0
    while netplan.container_dev(index) in present:
        index += 1
    return netplan.container_dev(index)


def plug_one(instance, vif, iface, netns):
    try:
        if privsep.link_exists(iface.host_dev):
            # Someone else's host end by this name (an interrupted plug,
            # or the host a server was evacuated from, sharing this
            # machine's switch): a userspace (netdev) switch keeps the old
            # device open until its port is removed.
            unplug_one(instance, vif, iface)
        privsep.add_veth(iface.host_dev, iface.peer_dev, iface.mtu)
        try:
            _plug_host(instance, vif, iface)
            crashpoint.reached(crashpoint.PORT_PLUG)
            privsep.move_into_netns(iface.peer_dev, netns)
            privsep.configure_in_netns(
                netns, iface.peer_dev, iface.name, iface.mac, iface.mtu,
                [list(a) for a in iface.addresses],
                [list(r) for r in iface.routes])
        except Exception:
            with excutils.save_and_reraise_exception():
                _unplug_quietly(instance, vif, iface)
    except (NetlinkError, OSError, privsep.NotOurs,
            os_vif_exception.ExceptionBase) as e:
        raise exception.NetworkPlugFailed(
            port_id=iface.port_id, instance_uuid=instance.uuid,
            reason='%s: %s' % (type(e).__name__, e)) from e
    LOG.info('Plugged port %(port)s as %(name)s (host device %(dev)s)',
             {'port': iface.port_id, 'name': iface.name,
              'dev': iface.host_dev}, instance=instance)


def unplug(instance, network_info, plan):
    """Unplug every port (as ``plan`` has them); try them all, then report
    what failed."""
    failed = []
    for vif, iface in zip(network_info or [], plan.interfaces):
        try:
            unplug_one(instance, vif, iface)
        except (NetlinkError, OSError,
                os_vif_exception.ExceptionBase) as e:
            failed.append((iface.port_id, e))
    if failed:
        raise exception.NetworkUnplugFailed(
            port_ids=', '.join(port for port, _ in failed),
            instance_uuid=instance.uuid,
            reason='; '.join('%s: %s' % (type(e).__name__, e)
                             for _, e in failed))


def unplug_one(instance, vif, iface):
    """Remove the port's host wiring and both veth ends, whatever is left
    of them."""
    try:
        if vif['type'] in SUPPORTED_VIF_TYPES:
            with _one_at_a_time_if_green():
                os_vif.unplug(_os_vif(vif, iface),
                              os_vif_util.nova_to_osvif_instance(instance))
    finally:
        # Even when the switch could not be told, no veth is left behind.
        privsep.delete_link(iface.host_dev)
        privsep.delete_link(iface.peer_dev)


def remove_switch_ports(instance_uuid, keep_in_use=False):
    """Remove what os-vif plugged for an instance whose network info is
    lost (deleted while nova-compute was down) or is another host's now
    (evacuated): the Open vSwitch ports whose external ids name the
    instance, and the host devices named after their Neutron ports. With
    ``keep_in_use``, a port whose veth host end exists is left alone: a
    veth of this host's own namespace is gone by then (see
    ``remove_from_netns``), so that one is whoever plugged the port last
    (where two compute hosts share one machine's switch, the server's new
    host). Returns the Neutron port ids removed."""
    ovs = _switch()
    rows = ovs.ovsdb.db_find(
        'Interface', ('external_ids', '=', {'vm-uuid': instance_uuid}),
        columns=['name', 'external_ids']).execute(check_error=True)
    port_ids = []
    for row in rows:
        port_id = row['external_ids'].get('iface-id')
        if (keep_in_use and port_id and
                privsep.link_exists(netplan.host_dev(port_id))):
            continue
        ovs.ovsdb.del_port(row['name'], if_exists=True).execute(
            check_error=True)
        if port_id:
            port_ids.append(port_id)
            for dev in (netplan.host_dev(port_id), netplan.peer_dev(port_id),
                        *_hybrid_devs(port_id)):
                privsep.delete_link(dev)
    return port_ids


def remove_from_netns(netns):
    """Delete every port's NIC inside netns: the veth's host end goes with
    it at once, whereas a namespace the kernel tears down takes its veths
    along only later."""
    for name, _mac in privsep.netns_links(netns):
        if name.startswith(netplan.CONTAINER_PREFIX):
            privsep.delete_in_netns(netns, name)


def _switch():
    """One ovsdb client per process, as os-vif's own plugin keeps (each
    client holds a connection and a thread), configured the same way."""
    global _ovs
    with _os_vif_lock:
        if _ovs is None:
            _ovs = ovsdb_lib.BaseOVS(cfg.CONF.os_vif_ovs)
        return _ovs


def _hybrid_devs(port_id):
    """The Linux bridge and veth os-vif makes for a hybrid-plugged port
    (Nova's names: prefix + port id, 14 characters)."""
    return [(prefix + port_id)[:14] for prefix in ('qvo', 'qvb', 'qbr')]


def _unplug_quietly(instance, vif, iface):
    """Cleanup after a failed plug: its own failure must not hide the
    plug's error, which is the one the caller raises."""
    try:
        unplug_one(instance, vif, iface)
    except (NetlinkError, OSError, os_vif_exception.ExceptionBase):
        LOG.exception('Cleaning up port %s after a failed plug failed',
                      iface.port_id, instance=instance)


def _os_vif(vif, iface):
    obj = os_vif_util.nova_to_osvif_vif(vif)
    if obj is None:
        raise exception.UnsupportedVIFType(
            instance_uuid='', port_id=vif['id'], vif_type=vif['type'],
            supported=', '.join(SUPPORTED_VIF_TYPES))
    # os-vif names the device libvirt would create; ours is the veth's
    # host end.
    obj.vif_name = iface.host_dev
    if isinstance(obj, os_vif_objects.VIFOpenVSwitch):
        # No hypervisor adds the port to OVS for us: os-vif must.
        obj.port_profile.create_port = True
    return obj


def _plug_host(instance, vif, iface):
    obj = _os_vif(vif, iface)
    with _one_at_a_time_if_green():
        os_vif.plug(obj, os_vif_util.nova_to_osvif_instance(instance))
    if isinstance(obj, os_vif_objects.VIFBridge):
        # Hybrid plug: os-vif made the Linux bridge and its link to OVS;
        # the container's host end goes where a VM's tap would.
        privsep.set_master(iface.host_dev, obj.bridge_name)
