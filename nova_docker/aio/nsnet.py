"""Network namespaces of the all-in-one's other compute hosts.

Run with the venv's python (pyroute2 lives there), never imported by the
standard-library part of the all-in-one:

``python -m nova_docker.aio.nsnet create NETNS ROOT_DEV NS_DEV ADDRESS``
    the namespace with its loopback up and ADDRESS/32 on it (the host's own
    tunnel endpoint address), and a veth pair whose NS_DEV end is inside:
    the wire between the first host's switch and this one's.
``python -m nova_docker.aio.nsnet delete NETNS ROOT_DEV``
    the namespace and the veth pair (what is already gone is skipped).
``python -m nova_docker.aio.nsnet exec NETNS -- ARGV...``
    ARGV inside the namespace (this process becomes it).
``python -m nova_docker.aio.nsnet relay NETNS PORT...``
    127.0.0.1:PORT inside the namespace forwards to 127.0.0.1:PORT of the
    host: the host's services (APIs, RabbitMQ) listen on its loopback only,
    and no address is added outside the namespace.
``python -m nova_docker.aio.nsnet expose NETNS FIRST LAST``
    the other way: 127.0.0.1:PORT of the host, for each PORT from FIRST to
    LAST, forwards to 127.0.0.1:PORT inside the namespace (nova-serialproxy
    reaching the serial console endpoints of the host's nova-compute).

Only names the all-in-one gives are touched (see ``_check``).
"""

import asyncio
import ctypes
import os
import re
import socket
import sys

CLONE_NEWNET = 0x40000000
NETNS_DIR = '/var/run/netns'
# computehost.NetworkedHost's names: its namespace is its compute host's
# name (which starts with the all-in-one's), its veth ends aio<8 hex>-r|n.
_NETNS = re.compile(r'^nova-docker-aio[a-z0-9-]*$')
_DEV = re.compile(r'^aio[0-9a-f]{8}-[rn]$')


def _check(netns, *devs):
    if not _NETNS.match(netns):
        raise SystemExit('%r is not a namespace of the all-in-one' % netns)
    for dev in devs:
        if not _DEV.match(dev):
            raise SystemExit('%r is not a device of the all-in-one' % dev)


def _setns(path):
    """Move the calling thread into the network namespace at path."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(path, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET):
            err = ctypes.get_errno()
            raise OSError(err, 'setns %s: %s' % (path, os.strerror(err)))
    finally:
        os.close(fd)


def create(netns_name, root_dev, ns_dev, address):
    from pyroute2 import IPRoute, NetNS, netns
    if netns_name not in netns.listnetns():
        netns.create(netns_name)
    with NetNS(netns_name, flags=0) as ns:
        lo = ns.link_lookup(ifname='lo')[0]
        ns.link('set', index=lo, state='up')
        if not ns.get_addr(index=lo, address=address):
            ns.addr('add', index=lo, address=address, prefixlen=32)
        inside = ns.link_lookup(ifname=ns_dev)
    with IPRoute() as ipr:
        if not inside:
            for stale in ipr.link_lookup(ifname=root_dev):
                ipr.link('del', index=stale)
            ipr.link('add', ifname=root_dev, kind='veth',
                     peer={'ifname': ns_dev})
            ipr.link('set', index=ipr.link_lookup(ifname=ns_dev)[0],
                     net_ns_fd=netns_name)
        # The host's end only carries frames between two switches: no
        # link-local address (nor any other) in the host's namespace.
        with open('/proc/sys/net/ipv6/conf/%s/disable_ipv6' % root_dev,
                  'w') as f:
            f.write('1')
        ipr.link('set', index=ipr.link_lookup(ifname=root_dev)[0],
                 state='up')
    with NetNS(netns_name, flags=0) as ns:
        ns.link('set', index=ns.link_lookup(ifname=ns_dev)[0], state='up')


def delete(netns_name, root_dev):
    from pyroute2 import IPRoute, netns
    with IPRoute() as ipr:
        for index in ipr.link_lookup(ifname=root_dev):
            ipr.link('del', index=index)
    if netns_name in netns.listnetns():
        netns.remove(netns_name)


def run_inside(netns_name, argv):
    _setns(os.path.join(NETNS_DIR, netns_name))
    os.execvp(argv[0], argv)


async def _pipe(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except OSError:
        writer.close()


async def _forward(port, reader, writer):
    try:
        up_reader, up_writer = await asyncio.open_connection(
            '127.0.0.1', port)
    except OSError:
        writer.close()
        return
    await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
    writer.close()
    up_writer.close()


async def _serve(listeners):
    servers = [await asyncio.start_server(
        lambda r, w, port=port: _forward(port, r, w), sock=sock)
        for port, sock in listeners]
    await asyncio.gather(*(s.serve_forever() for s in servers))


def relay(netns_name, ports):
    """Listen inside the namespace, connect from the host's: a socket
    keeps the namespace it was made in, so the listeners are made in
    there and the thread then comes back before it connects anywhere."""
    home = '/proc/self/ns/net'
    home_fd = os.open(home, os.O_RDONLY)
    _setns(os.path.join(NETNS_DIR, netns_name))
    listeners = _listen(ports)
    _setns('/proc/self/fd/%d' % home_fd)
    os.close(home_fd)
    asyncio.run(_serve(listeners))


def expose(netns_name, ports):
    """Listen in the host's namespace, connect from inside NETNS."""
    listeners = _listen(ports)
    _setns(os.path.join(NETNS_DIR, netns_name))
    asyncio.run(_serve(listeners))


def _listen(ports):
    listeners = []
    for port in ports:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(('127.0.0.1', port))
        sock.listen(128)
        listeners.append((port, sock))
    return listeners


def main(argv):
    command, netns_name, rest = argv[0], argv[1], argv[2:]
    if command == 'create':
        _check(netns_name, rest[0], rest[1])
        create(netns_name, rest[0], rest[1], rest[2])
    elif command == 'delete':
        _check(netns_name, rest[0])
        delete(netns_name, rest[0])
    elif command == 'exec':
        _check(netns_name)
        run_inside(netns_name, rest[1:] if rest[:1] == ['--'] else rest)
    elif command == 'relay':
        _check(netns_name)
        relay(netns_name, [int(p) for p in rest])
    elif command == 'expose':
        _check(netns_name)
        expose(netns_name, range(int(rest[0]), int(rest[1]) + 1))
    else:
        raise SystemExit('unknown command %s' % command)


if __name__ == '__main__':
    main(sys.argv[1:])
