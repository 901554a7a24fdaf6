"""The networked all-in-one: Open vSwitch, the agent's readiness and the
``private`` network.

Open vSwitch is the host's, shared like the Docker engine: one that answers
is used as it is; otherwise ``up`` starts it with Debian's ovs-ctl (no
systemd here) and ``down`` stops it again. neutron-openvswitch-agent makes
br-int and br-tun on it with the userspace (netdev) datapath.
"""

import os
import subprocess

from nova_docker.aio.progress import Failed

OVS_CTL = '/usr/share/openvswitch/scripts/ovs-ctl'
PRIVATE = 'private'
# ``private`` is a flat network on this physical network, whose bridge on
# each compute host's switch is br-aio-phys; the other hosts' bridges are
# joined to the first one's by veth pairs (computehost). Not VXLAN: with
# the userspace datapath a tunnel endpoint must be an address on one of
# the switch's own devices, i.e. in the host's namespace for the first
# host, and the all-in-one adds no address there.
PHYSNET = 'aio'
PHYS_BRIDGE = 'br-aio-phys'
# Addresses of the ``private`` network: no gateway, as there is no router
# (servers reach each other, never off the machine). Nothing hands out
# addresses by DHCP: the driver sets each port's fixed IPs itself.
SUBNETS = (
    {'name': 'private-v4', 'ip_version': 4, 'cidr': '10.20.0.0/24'},
    {'name': 'private-v6', 'ip_version': 6, 'cidr': 'fd20::/64'},
)


def ovs_answers():
    return subprocess.call(['ovs-vsctl', '--timeout=5', 'show'],
                           stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL) == 0


def _started_stamp(layout):
    return os.path.join(layout.run, 'openvswitch.started-by-up')


def ensure_ovs(layout):
    """Use the Open vSwitch that answers, or start it; True if we did."""
    if ovs_answers():
        return False
    log = layout.log('openvswitch')
    with open(log, 'ab') as out:
        rc = subprocess.call([OVS_CTL, 'start', '--system-id=random'],
                             stdout=out, stderr=out)
    if rc or not ovs_answers():
        raise Failed('Open vSwitch did not start (%s start)' % OVS_CTL, log)
    open(_started_stamp(layout), 'w').close()
    return True


def stop_ovs(layout):
    """Stop Open vSwitch if ``up`` started it; True if it did."""
    stamp = _started_stamp(layout)
    if not os.path.exists(stamp):
        return False
    with open(layout.log('openvswitch'), 'ab') as out:
        subprocess.call([OVS_CTL, 'stop'], stdout=out, stderr=out)
    os.unlink(stamp)
    return True


def _vsctl(*args):
    subprocess.run(['ovs-vsctl', '--timeout=30'] + list(args), check=True,
                   capture_output=True)


def ensure_phys_bridge():
    """The first host's bridge of the ``aio`` physical network (the agent
    wants its bridges to exist before it starts)."""
    _vsctl('--may-exist', 'add-br', PHYS_BRIDGE, '--', 'set', 'bridge',
           PHYS_BRIDGE, 'datapath_type=netdev')


def add_phys_port(device):
    _vsctl('--may-exist', 'add-port', PHYS_BRIDGE, device)


def del_phys_port(device):
    _vsctl('--if-exists', 'del-port', PHYS_BRIDGE, device)


def agent_alive(client, host):
    """Neutron has a fresh heartbeat of the Open vSwitch agent of host."""
    agents = client.call('GET', client.endpoint('network') + (
        '/v2.0/agents?binary=neutron-openvswitch-agent&host=' + host))
    return any(a['alive'] for a in agents['agents'])


def ensure_private_network(client):
    """The ``private`` network, shared by all projects, with an IPv4 and an
    IPv6 subnet; returns its id. Looks before it creates."""
    neutron = client.endpoint('network') + '/v2.0'
    found = client.call('GET', neutron + '/networks?name=' + PRIVATE)
    network = found['networks'][0] if found['networks'] else None
    if network and network.get('provider:network_type') != 'flat':
        # Made by an earlier version as VXLAN, which cannot span hosts.
        ports = client.call('GET', neutron + '/ports?network_id='
                            + network['id'])['ports']
        if ports:
            raise Failed('network %s is %s and has ports: delete its servers '
                         'and ports, then run up again (it is made anew as a '
                         'flat network)' % (
                             PRIVATE, network.get('provider:network_type')))
        client.call('DELETE', neutron + '/networks/' + network['id'])
        network = None
    if not network:
        # Shared: every project of the lab (tempest's too) can boot on it.
        network = client.call('POST', neutron + '/networks', {
            'network': {'name': PRIVATE, 'shared': True,
                        'provider:network_type': 'flat',
                        'provider:physical_network': PHYSNET}})['network']
    have = {s['name'] for s in client.call(
        'GET', neutron + '/subnets?network_id=' + network['id'])['subnets']}
    for subnet in SUBNETS:
        if subnet['name'] not in have:
            client.call('POST', neutron + '/subnets', {'subnet': dict(
                subnet, network_id=network['id'], gateway_ip=None,
                enable_dhcp=False)})
    return network['id']
