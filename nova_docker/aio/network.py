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
    if found['networks']:
        network = found['networks'][0]
    else:
        # Shared: every project of the lab (tempest's too) can boot on it.
        network = client.call('POST', neutron + '/networks', {
            'network': {'name': PRIVATE, 'shared': True}})['network']
    have = {s['name'] for s in client.call(
        'GET', neutron + '/subnets?network_id=' + network['id'])['subnets']}
    for subnet in SUBNETS:
        if subnet['name'] not in have:
            client.call('POST', neutron + '/subnets', {'subnet': dict(
                subnet, network_id=network['id'], gateway_ip=None,
                enable_dhcp=False)})
    return network['id']
