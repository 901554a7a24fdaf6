"""Servers with Neutron ports (Nova's NeutronFixture) on a real Open
vSwitch bridge (netdev datapath) that each test owns: NICs inside the
containers, traffic between them, reboots, hot-plug, the
network-vif-plugged wait, and no leftovers."""

import copy
import os
import random
import time
import uuid

from docker import errors as docker_errors
import fixtures
from nova.tests.functional.api import client

from nova_docker import naming
from nova_docker import netplan
from tests.api import base
from tests import netsupport
from tests import support


class NetworkTestBase(base.DockerAPITestCase):

    def _setup_services(self):
        self.ovs = self.useFixture(netsupport.OvsBridge())
        super()._setup_services()

    def setUp(self):
        super().setUp()
        self.image_id = self.create_docker_image()
        # busybox's ping needs raw sockets (it cannot use ICMP datagram
        # sockets): the flavor opts in, as an operator's would.
        self.flavor_id = self.create_flavor(
            extra_specs={'docker:cap_add': 'NET_RAW'})
        self.addresses = iter(range(10, 250))

    def make_port(self, hybrid=False, status='ACTIVE', bridge=None):
        """A port on the fixture's dual-stack network, bound to our OVS
        bridge; returns (port id, IPv4 address, IPv6 address)."""
        fixture = self.neutron
        n = next(self.addresses)
        v4, v6 = '192.168.1.%d' % n, 'fd37:44e8:ad06::%x' % n
        port = copy.deepcopy(fixture.port_1)
        port.update({
            'id': str(uuid.uuid4()),
            'mac_address': 'fa:16:3e:%02x:%02x:%02x' % tuple(
                random.randint(0, 255) for _ in range(3)),
            'fixed_ips': [
                {'ip_address': v4, 'subnet_id': fixture.subnet_1['id']},
                {'ip_address': v6,
                 'subnet_id': fixture.subnet_ipv6_1['id']}],
            'status': status,
            'binding:vif_details': {
                'bridge_name': bridge or self.ovs.name,
                'datapath_type': 'netdev',
                'port_filter': True, 'ovs_hybrid_plug': hybrid},
        })
        fixture._ports[port['id']] = port
        if hybrid:
            self.useFixture(netsupport.ForwardWithin(
                ('qbr' + port['id'])[:14]))
        return port['id'], v4, v6

    def boot_with_ports(self, *port_ids, expected_state='ACTIVE',
                        wait=True):
        server = self._build_server(
            image_uuid=self.image_id, flavor_id=self.flavor_id,
            networks=[{'port': port_id} for port_id in port_ids])
        server = self.api.post_server({'server': server})
        if not wait:
            return server
        return self._wait_for_state_change(server, expected_state)

    def run_in(self, server, *argv):
        """Run a command in the server's container: (exit code, output)."""
        return support.run_in(self.docker, server['id'], *argv)

    def assert_pings(self, server, address):
        # Open vSwitch's userspace datapath on a loaded 2-core machine may
        # drop the first packets while it learns: a few tries, then fail.
        flag = ['-6'] if ':' in address else []
        for _ in range(3):
            code, output = self.run_in(server, 'ping', *flag, '-c', '2',
                                       '-W', '3', address)
            if code == 0:
                return
        self.assertEqual(0, code, 'ping %s: %s' % (address, output))

    def assert_no_host_devices(self, *port_ids):
        links = netsupport.host_links()
        for port_id in port_ids:
            for name in (netplan.host_dev(port_id), netplan.peer_dev(port_id),
                         ('qbr' + port_id)[:14], ('qvb' + port_id)[:14],
                         ('qvo' + port_id)[:14]):
                self.assertNotIn(name, links)
        self.assertEqual([], self.ovs.ports())


class NetworkTest(NetworkTestBase):

    def test_two_servers_on_one_network_ping_after_reboots(self):
        # The fixture's subnets are shared by every test: a copy of this
        # one for this test, with a DNS server.
        subnets = self.neutron._subnets
        subnet_id = self.neutron.subnet_1['id']
        subnets[subnet_id] = dict(subnets[subnet_id],
                                  dns_nameservers=['192.168.1.2'])
        port_a, a4, a6 = self.make_port()
        port_b, b4, b6 = self.make_port()
        a = self.boot_with_ports(port_a)
        b = self.boot_with_ports(port_b)

        # The port's MAC, addresses, MTU and routes, and no host device.
        code, links = self.run_in(a, 'ip', '-o', 'link')
        self.assertEqual(['lo', 'eth0'], [
            line.split(':')[1].strip().split('@')[0]
            for line in links.splitlines()])
        mac = self.neutron._ports[port_a]['mac_address']
        self.assertIn(mac, links)
        self.assertIn('mtu 1450', links)
        code, addrs = self.run_in(a, 'ip', 'addr')
        self.assertIn('%s/24' % a4, addrs)
        self.assertIn('%s/64' % a6, addrs)
        code, routes = self.run_in(a, 'ip', 'route')
        self.assertIn('default via 192.168.1.1', routes)
        code, hostname = self.run_in(a, 'hostname')
        self.assertEqual(a['OS-EXT-SRV-ATTR:hostname'], hostname.strip())
        # The subnet's DNS server, and the server's name at its address.
        code, resolv = self.run_in(a, 'cat', '/etc/resolv.conf')
        self.assertIn('nameserver 192.168.1.2\n', resolv)
        code, hosts = self.run_in(a, 'cat', '/etc/hosts')
        self.assertIn('%s\t%s' % (a4, hostname.strip()), hosts)
        self.assertEqual(sorted([netplan.host_dev(port_a),
                                 netplan.host_dev(port_b)]),
                         sorted(self.ovs.ports()))

        for address in (b4, b6):
            self.assert_pings(a, address)
        self.assert_pings(b, a4)

        self._stop_server(a)
        a = self._start_server(a)
        self.assert_pings(a, b4)
        a = self._reboot_server(a)
        self.assert_pings(a, b6)
        a = self._reboot_server(a, hard=True)
        self.assert_pings(a, b4)
        self.assert_pings(b, a6)

        self._delete_server(a)
        self._delete_server(b)
        self.assert_no_container(a)
        self.assert_no_container(b)
        self.assert_no_host_devices(port_a, port_b)

    def test_hybrid_plug_through_a_linux_bridge(self):
        port_a, a4, a6 = self.make_port(hybrid=True)
        port_b, b4, b6 = self.make_port(hybrid=True)
        a = self.boot_with_ports(port_a)
        b = self.boot_with_ports(port_b)
        links = netsupport.host_links()
        self.assertIn(('qbr' + port_a)[:14], links)
        self.assertIn(('qvo' + port_a)[:14], self.ovs.ports())
        self.assert_pings(a, b4)
        self.assert_pings(b, a6)

        self._delete_server(a)
        self._delete_server(b)
        self.assert_no_host_devices(port_a, port_b)

    def test_attach_and_detach_a_port(self):
        port_a, a4, _ = self.make_port()
        port_b, b4, _ = self.make_port()
        port_c, c4, _ = self.make_port()
        a = self.boot_with_ports(port_a)
        b = self.boot_with_ports(port_b)

        self._attach_interface(b, port_c)
        code, addrs = self.run_in(b, 'ip', 'addr', 'show', 'eth1')
        self.assertEqual(0, code, addrs)
        self.assertIn('%s/24' % c4, addrs)
        self.assert_pings(a, c4)
        self.assert_pings(a, b4)

        self._detach_interface(b, port_c)
        code, addrs = self.run_in(b, 'ip', 'addr', 'show', 'eth1')
        self.assertNotEqual(0, code)
        self.assertNotIn(netplan.host_dev(port_c), netsupport.host_links())
        self.assert_pings(a, b4)

        self._delete_server(a)
        self._delete_server(b)
        self.assert_no_host_devices(port_a, port_b, port_c)

    def test_namespace_lost_with_the_host_is_rebuilt_on_start(self):
        port_a, a4, _ = self.make_port()
        port_b, b4, _ = self.make_port()
        a = self.boot_with_ports(port_a)
        b = self.boot_with_ports(port_b)
        a = self._stop_server(a)
        # As after a host reboot: the infra process and its namespace (with
        # the veth pair) are gone.
        self.docker.api.kill(naming.infra_name(a['id']))

        a = self._start_server(a)
        self.assert_pings(a, b4)
        self.assert_pings(b, a4)
        self._delete_server(a)
        self._delete_server(b)
        self.assert_no_host_devices(port_a, port_b)

    def test_compute_restart_plugs_the_switch_side_again(self):
        port_a, a4, _ = self.make_port()
        port_b, b4, _ = self.make_port()
        a = self.boot_with_ports(port_a)
        b = self.boot_with_ports(port_b)
        # The switch lost the port (e.g. its database was rebuilt).
        netsupport.ovs_vsctl('del-port', self.ovs.name,
                             netplan.host_dev(port_a))
        self.restart_compute_service(self.compute)
        self.assertIn(netplan.host_dev(port_a), self.ovs.ports())
        self.assert_pings(a, b4)
        self._delete_server(a)
        self._delete_server(b)
        self.assert_no_host_devices(port_a, port_b)

    def test_unsupported_vif_type_fails_the_build_clearly(self):
        port_id, _, _ = self.make_port()
        self.neutron._ports[port_id]['binding:vif_type'] = 'tap'
        server = self.boot_with_ports(port_id, expected_state='ERROR')
        self.assertIn('has VIF type "tap", which nova-docker cannot plug',
                      server['fault']['message'])
        self.assert_no_container(server)
        self.assert_no_host_devices(port_id)

    def test_servers_on_different_networks_cannot_reach_each_other(self):
        other = self.useFixture(netsupport.OvsBridge())
        port_a, a4, a6 = self.make_port()
        port_b, b4, b6 = self.make_port(bridge=other.name)
        a = self.boot_with_ports(port_a)
        b = self.boot_with_ports(port_b)
        for flag, address in (('-4', b4), ('-6', b6)):
            code, output = self.run_in(a, 'ping', flag, '-c', '1', '-W', '2',
                                       address)
            self.assertNotEqual(0, code, output)
            self.assertIn('0 packets received', output)
        self.assertEqual([netplan.host_dev(port_b)], other.ports())
        self._delete_server(a)
        self._delete_server(b)
        self.assertEqual([], other.ports())

    def test_server_without_ports_is_isolated(self):
        server = self.boot(self.image_id, self.flavor_id)  # networks=none
        code, links = self.run_in(server, 'ip', '-o', 'link')
        self.assertEqual(['lo'], [
            line.split(':')[1].strip() for line in links.splitlines()])
        # One container, no infra: nothing to plug ports into later.
        self.assertEqual('none',
                         self.container(server)['HostConfig']['NetworkMode'])
        port_id, _, _ = self.make_port()
        self.assertRaises(client.OpenStackApiException,
                          self._attach_interface, server, port_id)
        self.assertEqual('ACTIVE', self._wait_for_state_change(
            server, 'ACTIVE')['status'])
        self._delete_server(server)
        self.assert_no_container(server)


class VifPluggedTest(NetworkTestBase):

    def setUp(self):
        super().setUp()
        # NeutronFixture turns the wait off; these tests are about it.
        self.flags(vif_plugging_timeout=300, vif_plugging_is_fatal=True)

    def root_hash(self, server):
        """The password field of root's /etc/passwd entry (the test image
        has no /etc/shadow), or None before the workload is created."""
        try:
            passwd = support.read_file(self.docker, server['id'],
                                       '/etc/passwd')[1]
        except docker_errors.NotFound:
            return None
        return passwd.splitlines()[0].split(':')[1]

    def test_spawn_waits_for_network_vif_plugged(self):
        port_id, _, _ = self.make_port(status='DOWN')
        server = self.boot_with_ports(port_id, wait=False)
        # The waiter is in place before the host side is plugged.
        self.wait_for_link(netplan.host_dev(port_id))
        if not support.on_podman():
            # The boot's password is written into the image's files while
            # Neutron wires the port (on Podman, by chpasswd once started:
            # guest.write_password).
            support.wait_for(
                lambda: self.root_hash(server) not in (None, 'x'), 30,
                "the boot's password written")
        time.sleep(0.5)
        self.assertEqual('BUILD', self.api.get_server(server['id'])['status'])
        # The workload is made while Neutron wires the port, but it never
        # runs before Neutron reports the port wired.
        self.assertEqual([], self.docker.containers.list(
            filters={'label': '%s=%s' % (naming.INSTANCE_UUID,
                                         server['id'])}))

        self.api.create_server_external_events([{
            'name': 'network-vif-plugged', 'server_uuid': server['id'],
            'tag': port_id, 'status': 'completed'}])
        active = self._wait_for_state_change(server, 'ACTIVE')
        self.assertEqual('running', self.container_status(active))
        self.assertTrue(support.password_is(self.root_hash(server),
                                            server['adminPass']))
        self._delete_server(active)
        self.assert_no_host_devices(port_id)

    def test_fatal_timeout_fails_the_spawn_and_cleans_up(self):
        self.flags(vif_plugging_timeout=1)
        port_id, _, _ = self.make_port(status='DOWN')
        server = self.boot_with_ports(port_id, expected_state='ERROR')
        # Nova reports VirtualInterfaceCreateException so, as with libvirt.
        self.assertIn('Failed to allocate the network(s), not rescheduling',
                      server['fault']['message'])
        self.assertIn('VirtualInterfaceCreateException',
                      server['fault']['details'])
        self.assert_no_container(server)
        self.assert_no_host_devices(port_id)

    def wait_for_link(self, name, timeout=60):
        support.wait_for(lambda: name in netsupport.host_links(), timeout,
                         'device %s' % name)


class SlowBindingTest(NetworkTestBase):
    """Neutron slow to bind the ports, as a real one is: the engine makes
    the network namespace meanwhile. Each binding waits (with a deadline)
    for the server's infra container."""

    def setUp(self):
        super().setUp()
        self.instances_path = self.useFixture(fixtures.TempDir()).path
        self.flags(instances_path=self.instances_path)
        self.infra_seen = []
        self.binding_fails = False
        bind = self.neutron.update_port

        def slow_bind(port_id, body=None):
            port = (body or {}).get('port', {})
            if port.get('binding:host_id') and port.get('device_id'):
                self.infra_seen.append(self.wait_for_infra(port['device_id']))
                if self.binding_fails:
                    raise RuntimeError('Neutron failed to bind the port')
            return bind(port_id, body)
        self.useFixture(fixtures.MockPatchObject(
            self.neutron, 'update_port', side_effect=slow_bind))

    def wait_for_infra(self, instance_uuid, timeout=20):
        name = naming.infra_name(instance_uuid)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.docker.containers.list(filters={'name': name}):
                return True
            time.sleep(0.1)
        return False

    def test_namespace_made_while_the_ports_bind(self):
        subnets = self.neutron._subnets
        subnet_id = self.neutron.subnet_1['id']
        subnets[subnet_id] = dict(subnets[subnet_id],
                                  dns_nameservers=['192.168.1.3'])
        port_id, v4, _ = self.make_port()
        server = self.boot_with_ports(port_id)
        self.assertEqual([True], self.infra_seen)
        code, resolv = self.run_in(server, 'cat', '/etc/resolv.conf')
        self.assertIn('nameserver 192.168.1.3\n', resolv)
        code, hosts = self.run_in(server, 'cat', '/etc/hosts')
        self.assertIn('%s\t%s\n' % (v4, server['OS-EXT-SRV-ATTR:hostname']),
                      hosts)
        code, addrs = self.run_in(server, 'ip', 'addr')
        self.assertIn('%s/24' % v4, addrs)
        self._delete_server(server)
        self.assert_no_container(server)
        self.assert_no_host_devices(port_id)
        self.assertEqual([], os.listdir(self.instances_path))

    def test_snapshot_boots_without_a_port(self):
        # The server's hosts and resolv.conf are bound, not volumes its
        # image would declare: a snapshot boots with a port or none.
        port_id, _, _ = self.make_port()
        server = self.boot_with_ports(port_id)
        self.run_in(server, 'sh', '-c', 'echo kept > /root/note')
        snapshot_id = self.api.post_server_action(
            server['id'], {'createImage': {'name': 'networked'}})['image_id']
        self._wait_for_server_parameter(
            server, {'OS-EXT-STS:task_state': None}, max_retries=60)
        clone = self.boot(snapshot_id)
        self.assertEqual((0, 'kept\n'), self.run_in(clone, 'cat',
                                                    '/root/note'))

    def test_binding_failed_leaves_nothing(self):
        self.binding_fails = True
        port_id, _, _ = self.make_port()
        server = self.boot_with_ports(port_id, expected_state='ERROR')
        self.assertEqual([True], self.infra_seen)
        self.assert_no_container(server)
        self.assert_no_host_devices(port_id)
        self.assertEqual([], os.listdir(self.instances_path))
