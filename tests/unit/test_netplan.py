"""network_info -> interface plan, by table."""

from nova.network import model
import testscenarios
import testtools

from nova_docker import netplan

PORT_A = '2f7cd1f6-4d5e-4b0e-9a33-2f1a1c0de0a1'
PORT_B = '9c0f4be2-77aa-4a51-8d71-0c8e1f4f1b22'


def subnet(cidr, ips, gateway=None, dns=(), routes=()):
    return model.Subnet(
        cidr=cidr,
        ips=[model.FixedIP(address=ip) for ip in ips],
        gateway=model.IP(address=gateway) if gateway else None,
        dns=[model.IP(address=d) for d in dns],
        routes=[model.Route(cidr=c, gateway=model.IP(address=g))
                for c, g in routes])


def vif(port_id, mac, subnets, mtu=None, vif_type='ovs'):
    network = model.Network(id='net-' + port_id[:4], bridge='br-int',
                            subnets=subnets, mtu=mtu)
    return model.VIF(id=port_id, address=mac, network=network,
                     type=vif_type)


DUAL_STACK = vif(PORT_A, 'FA:16:3E:00:00:0A', [
    subnet('10.1.0.0/24', ['10.1.0.5', '10.1.0.6'], gateway='10.1.0.1',
           dns=['10.1.0.2'], routes=[('192.168.50.0/24', '10.1.0.254')]),
    subnet('fd00:1::/64', ['fd00:1::5'], gateway='fd00:1::1',
           dns=['fd00:1::2']),
], mtu=1450)
SECOND_NIC = vif(PORT_B, 'fa:16:3e:00:00:0b', [
    subnet('10.2.0.0/24', ['10.2.0.7'], gateway='10.2.0.1',
           dns=['10.1.0.2', '10.2.0.2']),
])
IPV6_ONLY = vif(PORT_A, 'fa:16:3e:00:00:0c', [
    subnet('2001:db8:a::/64', ['2001:db8:a::10'], gateway='2001:db8:a::1'),
])
NO_GATEWAY = vif(PORT_A, 'fa:16:3e:00:00:0d', [
    subnet('172.16.5.0/28', ['172.16.5.3']),
])


class PlanTest(testscenarios.WithScenarios, testtools.TestCase):
    scenarios = [
        ('dual stack, two NICs', dict(
            network_info=[DUAL_STACK, SECOND_NIC],
            interfaces=[
                netplan.Interface(
                    PORT_A, 'ovs', 'tap2f7cd1f6-4d', 'nsd2f7cd1f6-4d', 'eth0',
                    'fa:16:3e:00:00:0a', 1450,
                    [('10.1.0.5', 24), ('10.1.0.6', 24), ('fd00:1::5', 64)],
                    [('0.0.0.0/0', '10.1.0.1'),
                     ('192.168.50.0/24', '10.1.0.254'),
                     ('::/0', 'fd00:1::1')]),
                # The first NIC with a gateway holds the default route.
                netplan.Interface(
                    PORT_B, 'ovs', 'tap9c0f4be2-77', 'nsd9c0f4be2-77', 'eth1',
                    'fa:16:3e:00:00:0b', None, [('10.2.0.7', 24)], []),
            ],
            dns=['10.1.0.2', 'fd00:1::2', '10.2.0.2'])),
        ('IPv6 only', dict(
            network_info=[IPV6_ONLY],
            interfaces=[netplan.Interface(
                PORT_A, 'ovs', 'tap2f7cd1f6-4d', 'nsd2f7cd1f6-4d', 'eth0',
                'fa:16:3e:00:00:0c', None, [('2001:db8:a::10', 64)],
                [('::/0', '2001:db8:a::1')])],
            dns=[])),
        ('subnet without gateway', dict(
            network_info=[NO_GATEWAY],
            interfaces=[netplan.Interface(
                PORT_A, 'ovs', 'tap2f7cd1f6-4d', 'nsd2f7cd1f6-4d', 'eth0',
                'fa:16:3e:00:00:0d', None, [('172.16.5.3', 28)], [])],
            dns=[])),
        ('no network', dict(network_info=[], interfaces=[], dns=[])),
        ('network_info None', dict(network_info=None, interfaces=[], dns=[])),
    ]

    def test_plan(self):
        plan = netplan.plan(model.NetworkInfo(self.network_info or []))
        self.assertEqual(self.interfaces, plan.interfaces)
        self.assertEqual(self.dns, plan.dns)


class NamesTest(testtools.TestCase):

    def test_device_names_fit_the_kernel_limit(self):
        for name in (netplan.host_dev(PORT_A), netplan.peer_dev(PORT_A),
                     netplan.container_dev(99)):
            self.assertLessEqual(len(name), netplan.IFNAMSIZ)

    def test_names_differ_per_port(self):
        self.assertNotEqual(netplan.host_dev(PORT_A),
                            netplan.host_dev(PORT_B))
        self.assertNotEqual(netplan.host_dev(PORT_A),
                            netplan.peer_dev(PORT_A))

    def test_gateway_outside_the_subnet_is_not_a_default_route(self):
        odd = vif(PORT_A, 'fa:16:3e:00:00:0e', [
            subnet('10.3.0.0/24', ['10.3.0.4'], gateway='10.9.9.9')])
        self.assertEqual([], netplan.interface(odd, 0).routes)

    def test_interface_index_names_hot_plugged_nic(self):
        self.assertEqual('eth3', netplan.interface(SECOND_NIC, 3).name)
