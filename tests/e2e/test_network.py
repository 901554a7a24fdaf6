"""End to end on the networked all-in-one: real Neutron ports.

``openstack server create --network private`` asks Neutron for a port,
ML2's Open vSwitch mechanism driver binds it to this host's
neutron-openvswitch-agent (br-int on the userspace datapath), the driver
plugs it into the server's network namespace and Nova waits for Neutron's
network-vif-plugged before the server goes ACTIVE. Only the real CLI drives
the cloud; the host is then looked at as an operator would: ``docker exec``
(ping inside the containers), ``ovs-vsctl`` and ``ip link``.
"""

import json
import os
import subprocess
import time
import unittest

from nova_docker import naming
from tests.e2e.test_cli import CloudTestCase, ENGINE_URL, STATE, inspect, osc

with open(os.path.join(STATE, 'settings.json')) as f:
    SETTINGS = json.load(f)
NETWORK = 'private'


def exec_in(server_id, *argv, engine=None):
    """``docker exec`` in a server's container; engine: the socket of
    another compute host's engine (up --computes 2), else the first's."""
    docker = ['docker', '-H', engine or ENGINE_URL]
    return subprocess.run(docker + ['exec', 'nova-' + server_id, *argv],
                          capture_output=True, text=True, timeout=60)


def switch_ports(port_id, ovsdb=None):
    """Open vSwitch interfaces wired for a Neutron port (on the switch of
    ovsdb, another compute host's, if given)."""
    db = ['--db=' + ovsdb] if ovsdb else []
    out = subprocess.run(
        ['ovs-vsctl'] + db + ['--bare', '--columns=name', 'find',
                              'Interface', 'external_ids:iface-id=' + port_id],
        capture_output=True, text=True, check=True).stdout
    return out.split()


def host_link_exists(name):
    return subprocess.run(['ip', 'link', 'show', name],
                          capture_output=True).returncode == 0


class PrivateNetworkCase(CloudTestCase):
    """Servers with a port on the all-in-one's private network."""

    @classmethod
    def setUpClass(cls):
        if SETTINGS.get('network') != 'ovs':
            raise unittest.SkipTest('this all-in-one runs without Neutron '
                                    'agents (up --network none)')
        super().setUpClass()

    def boot(self, image_id, network=NETWORK):
        server = self.create_server(image_id, nic=('--network', network))
        self.assertEqual('ACTIVE', server['status'], server.get('fault'))
        return server

    def port_of(self, server_id):
        ports = osc('port', 'list', '--server', server_id, '-f', 'json')
        self.assertEqual(1, len(ports), ports)
        return osc('port', 'show', ports[0]['ID'], '-f', 'json')

    def addresses(self, port):
        return {(6 if ':' in ip['ip_address'] else 4): ip['ip_address']
                for ip in port['fixed_ips']}

    def assert_bound_and_wired(self, server_id, port):
        self.assertEqual('ACTIVE', port['status'])
        self.assertEqual('ovs', port['binding_vif_type'])
        self.assertEqual(SETTINGS['compute_host'], port['binding_host_id'])
        devices = switch_ports(port['id'])
        self.assertEqual(1, len(devices), devices)
        bridge = subprocess.run(['ovs-vsctl', 'port-to-br', devices[0]],
                                capture_output=True, text=True).stdout
        self.assertEqual('br-int', bridge.strip())
        links = exec_in(server_id, 'ip', '-o', 'link').stdout
        self.assertIn(port['mac_address'], links)
        inside = exec_in(server_id, 'ip', '-o', 'addr').stdout
        for address in self.addresses(port).values():
            self.assertIn(address + '/', inside)
        return devices[0]

    def assert_pings(self, server_id, address, within=0, engine=None):
        """server_id pings address: three tries (the userspace datapath on
        a busy two-core host may drop the first packets while it learns),
        and more until ``within`` seconds have passed (ports the agent is
        still wiring)."""
        flag = ['-6'] if ':' in address else []
        deadline = time.monotonic() + within
        tries = 0
        while True:
            proc = exec_in(server_id, 'ping', *flag, '-c', '2', '-W', '3',
                           address, engine=engine)
            tries += 1
            if proc.returncode == 0:
                return
            if tries >= 3 and time.monotonic() > deadline:
                break
        self.fail('%s cannot ping %s (%d tries): %s%s' % (
            server_id, address, tries, proc.stdout, proc.stderr))

    def assert_pings_both_ways(self, a, b, port_a, port_b):
        for version in (4, 6):
            self.assert_pings(a, self.addresses(port_b)[version])
            self.assert_pings(b, self.addresses(port_a)[version])


class TestPrivateNetwork(PrivateNetworkCase):

    def test_two_servers_on_private_reach_each_other(self):
        image = self.create_image(os.path.join(self.images, 'busybox.tar'))
        a = self.boot(image['id'])['id']
        b = self.boot(image['id'])['id']
        port_a, port_b = self.port_of(a), self.port_of(b)
        devices = [self.assert_bound_and_wired(a, port_a),
                   self.assert_bound_and_wired(b, port_b)]
        self.assert_pings_both_ways(a, b, port_a, port_b)

        osc('server', 'reboot', '--hard', '--wait', a)
        self.wait_status(a, 'ACTIVE')
        osc('server', 'stop', b)
        self.wait_status(b, 'SHUTOFF')
        osc('server', 'start', b)
        self.wait_status(b, 'ACTIVE')
        self.assert_pings_both_ways(a, b, port_a, port_b)

        for server in (a, b):
            osc('server', 'delete', '--wait', server)
        for port, device in zip((port_a, port_b), devices):
            self.assertEqual([], switch_ports(port['id']))
            self.assertFalse(host_link_exists(device),
                             '%s left on the host' % device)

    def test_port_added_to_a_running_server_is_usable(self):
        # The new port is on a network of its own, as a second NIC usually
        # is: on the subnet of the first one, replies would leave through
        # the first NIC with the second one's address, which port security
        # rightly drops.
        image = self.create_image(os.path.join(self.images, 'busybox.tar'))
        network = self.create_network()
        a = self.boot(image['id'])['id']
        b = self.boot(image['id'], network)['id']
        extra = osc('port', 'create', '--network', network,
                    self.unique('port'), '-f', 'json')
        self.addCleanup(osc, 'port', 'delete', extra['id'], check=False)

        osc('server', 'add', 'port', a, extra['id'])
        extra = self.wait_port(extra['id'], 'ACTIVE')
        self.assert_bound_and_wired(a, extra)
        self.assert_pings(b, self.addresses(extra)[4])
        self.assert_pings(a, self.addresses(self.port_of(b))[4])

        osc('server', 'remove', 'port', a, extra['id'])
        self.wait_port(extra['id'], 'DOWN')
        deadline = time.monotonic() + 60
        while extra['mac_address'] in exec_in(a, 'ip', '-o', 'link').stdout:
            self.assertLess(time.monotonic(), deadline,
                            'the removed NIC is still in the container')
            time.sleep(1)
        self.assertEqual([], switch_ports(extra['id']))
        # The server's own port still works.
        c = self.boot(image['id'])['id']
        self.assert_pings(c, self.addresses(self.port_of(a))[4])

    def create_network(self):
        name = self.unique('net')
        network = osc('network', 'create', name, '-f', 'json')
        self.addCleanup(osc, 'network', 'delete', network['id'], check=False)
        osc('subnet', 'create', '--network', network['id'], '--subnet-range',
            '10.30.0.0/24', '--gateway', 'none', '--no-dhcp', name)
        return network['id']

    def wait_port(self, port_id, status, timeout=120):
        deadline = time.monotonic() + timeout
        while True:
            port = osc('port', 'show', port_id, '-f', 'json')
            if port['status'] == status:
                return port
            if time.monotonic() > deadline:
                self.fail('port %s stayed %s, not %s' % (
                    port_id, port['status'], status))
            time.sleep(1)


class TestSnapshot(PrivateNetworkCase):
    """A networked server snapshotted and deleted (on Docker, and on
    Podman after ``up --engine podman``)."""

    def test_snapshot_of_a_server_with_a_port_then_delete(self):
        sid = self.boot('busybox')['id']
        port = self.port_of(sid)
        device = self.assert_bound_and_wired(sid, port)
        self.assertEqual(0, exec_in(sid, 'sh', '-c',
                                    'echo kept >/root/marker').returncode)

        name = self.unique('snapshot')
        osc('server', 'image', 'create', '--name', name, '--wait', sid)
        snapshot = osc('image', 'show', name, '-f', 'json')
        self.addCleanup(osc, 'image', 'delete', snapshot['id'], check=False)
        self.assertEqual('active', snapshot['status'])
        self.assertEqual('docker', snapshot['container_format'])
        self.wait_status(sid, 'ACTIVE')
        copy = self.create_server(snapshot['id'])['id']
        self.assertEqual('ACTIVE', self.wait_status(copy, 'ACTIVE')['status'])
        self.assertEqual('kept\n', exec_in(copy, 'cat', '/root/marker').stdout)

        for server in (sid, copy):
            osc('server', 'delete', '--wait', server)
            self.assertIsNone(inspect(server), 'container left')
            self.assertIsNone(inspect(server + '-infra'), 'infra left')
        self.assertEqual([], switch_ports(port['id']))
        self.assertFalse(host_link_exists(device), device)
        tags = subprocess.run(
            ['docker', '-H', ENGINE_URL, 'images', '--format',
             '{{.Repository}}'], capture_output=True, text=True,
            check=True).stdout
        self.assertNotIn(naming.SNAPSHOT_REPOSITORY + snapshot['id'], tags)


if __name__ == '__main__':
    unittest.main(verbosity=2)
