"""Nova network_info -> interface plan (pure).

Turns what Neutron bound (``nova.network.model.NetworkInfo``) into plain
values the privileged side can apply without knowing Nova: per NIC the
device names, MAC, addresses with prefix lengths, routes, MTU, plus the
DNS servers of the whole instance. Nothing here touches the host.
"""

import collections

import netaddr

# Linux refuses interface names longer than IFNAMSIZ - 1.
IFNAMSIZ = 15
# Host end of the veth pair: the name Neutron and Nova give a port's tap,
# so operators and agents recognise it.
HOST_PREFIX = 'tap'
# Namespace end while it is still on the host, before the move renames it.
PEER_PREFIX = 'nsd'
# Name inside the container.
CONTAINER_PREFIX = 'eth'
# Derived names keep 11 characters of the port id, as Nova's own do.
PORT_ID_CHARS = 11

DEFAULT_ROUTE = {4: '0.0.0.0/0', 6: '::/0'}

Interface = collections.namedtuple('Interface', [
    'port_id',     # Neutron port id
    'vif_type',    # Neutron binding vif_type (ovs, bridge, ...)
    'host_dev',    # host end of the veth pair
    'peer_dev',    # container end while still on the host
    'name',        # container end inside the namespace
    'mac',
    'mtu',         # None: leave the kernel's default
    'addresses',   # [(address, prefixlen)], IPv4 and IPv6
    'routes',      # [(destination cidr, gateway address)]
])

Plan = collections.namedtuple('Plan', ['interfaces', 'dns'])


def host_dev(port_id):
    return HOST_PREFIX + port_id[:PORT_ID_CHARS]


def peer_dev(port_id):
    return PEER_PREFIX + port_id[:PORT_ID_CHARS]


def container_dev(index):
    name = '%s%d' % (CONTAINER_PREFIX, index)
    if len(name) > IFNAMSIZ:
        raise ValueError('interface index %d is too large' % index)
    return name


def interface(vif, index, default_routes=None):
    """The plan of one VIF, named ``eth<index>`` in the container.

    ``default_routes`` holds the IP versions that already have a default
    route (from an earlier NIC): a container gets one default route per
    version, through the first NIC whose subnet has a gateway, as a
    cloud-init guest with several NICs would.
    """
    if default_routes is None:
        default_routes = set()
    network = vif['network'] or {}
    addresses, routes = [], []
    for subnet in network.get('subnets') or []:
        cidr = netaddr.IPNetwork(subnet['cidr'])
        for ip in subnet['ips']:
            addresses.append((str(netaddr.IPAddress(ip['address'])),
                              cidr.prefixlen))
        gateway = _address(subnet.get('gateway'))
        if (subnet['ips'] and gateway and cidr.version not in default_routes
                and netaddr.IPAddress(gateway) in cidr):
            routes.append((DEFAULT_ROUTE[cidr.version], gateway))
            default_routes.add(cidr.version)
        for route in subnet.get('routes') or []:
            via = _address(route.get('gateway'))
            routes.append((str(netaddr.IPNetwork(route['cidr']).cidr), via))
    return Interface(
        port_id=vif['id'],
        vif_type=vif['type'],
        host_dev=host_dev(vif['id']),
        peer_dev=peer_dev(vif['id']),
        name=container_dev(index),
        mac=str(vif['address']).lower(),
        mtu=_mtu(network),
        addresses=addresses,
        routes=routes,
    )


def plan(network_info):
    """The plan of every NIC of an instance, in network_info order."""
    interfaces, default_routes = [], set()
    for index, vif in enumerate(network_info or []):
        interfaces.append(interface(vif, index, default_routes))
    return Plan(interfaces=interfaces, dns=dns(network_info))


def dns(network_info):
    """DNS servers of every subnet, in order, without repeats."""
    servers = []
    for vif in network_info or []:
        for subnet in (vif['network'] or {}).get('subnets') or []:
            for server in subnet.get('dns') or []:
                address = _address(server)
                if address and address not in servers:
                    servers.append(address)
    return servers


def _address(ip):
    """The address of a Nova IP model (or None)."""
    if not ip or not ip.get('address'):
        return None
    return str(netaddr.IPAddress(ip['address']))


def _mtu(network):
    mtu = network.get_meta('mtu') if hasattr(network, 'get_meta') else None
    return int(mtu) if mtu else None
