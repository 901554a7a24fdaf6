"""Start nova-serialproxy when its first client connects:
``python -m nova_docker.aio.on_demand HOST PORT <nova-serialproxy's
arguments>``.

nova-serialproxy imports all of Nova's objects and holds ~117 MiB PSS
from the start, while a cloud whose users never open a serial console
never needs it (tempest's serial console tests are off). This process
listens on the proxy's address with the standard library alone (a few
MiB), and when a client connects it becomes nova-serialproxy (exec: same
pid, so ``down`` and ``status`` see one service), handing it the
listening socket: websockify serves an inherited socket (``listen_fd``),
and the first client, queued in the socket's backlog meanwhile, is served
once Nova has been imported (seconds).
"""

import functools
import os
import select
import socket
import sys

LISTEN_FD = 'NOVA_DOCKER_AIO_LISTEN_FD'


def listen_until_a_client_connects(host, port):
    sock = socket.create_server((host, port), backlog=128)
    select.select([sock], [], [])
    return sock


def become_the_proxy(sock, args):
    sock.set_inheritable(True)
    os.environ[LISTEN_FD] = str(sock.fileno())
    os.execv(sys.executable, [sys.executable, '-m',
                              'nova_docker.aio.on_demand', 'serve'] + args)


def serve(args):
    """nova-serialproxy on the socket this process inherited."""
    from nova.cmd import serialproxy
    from nova.console import websocketproxy

    # Nova's class names itself in super(): give its __init__ the socket.
    proxy = websocketproxy.NovaWebSocketProxy
    proxy.__init__ = functools.partialmethod(
        proxy.__init__, listen_fd=int(os.environ.pop(LISTEN_FD)))
    sys.argv = ['nova-serialproxy'] + args
    return serialproxy.main()


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[0] == 'serve':
        return serve(argv[1:])
    host, port, args = argv[0], int(argv[1]), argv[2:]
    become_the_proxy(listen_until_a_client_connects(host, port), args)


if __name__ == '__main__':
    sys.exit(main())
