"""Services that start when their first client connects:
``python -m nova_docker.aio.on_demand HOST PORT nova-serialproxy <its
arguments>`` and ``... HOST PORT heat-api STATE_DIR``.

nova-serialproxy imports all of Nova's objects and holds ~117 MiB PSS from
the start; heat-api and heat-engine hold ~220 MiB together. A cloud whose
users never open a serial console or create a stack (tempest's runs) never
needs them. This process listens on the service's address with the
standard library alone (a few MiB), and when a client connects it becomes
the service (exec: same pid, so ``down`` and ``status`` see one service),
handing it the listening socket; the first client waits in the socket's
backlog meanwhile (seconds).
"""

import functools
import os
import select
import socket
import sys
import time

LISTEN_FD = 'NOVA_DOCKER_AIO_LISTEN_FD'
# heat-api hands every request to heat-engine over RPC, on this topic.
HEAT_ENGINE_TOPIC = 'engine'
HEAT_ENGINE_START_TIMEOUT = 180


def listen_until_a_client_connects(host, port):
    sock = socket.create_server((host, port), backlog=128)
    select.select([sock], [], [])
    return sock


def become_the_serial_proxy(sock, args):
    sock.set_inheritable(True)
    os.environ[LISTEN_FD] = str(sock.fileno())
    os.execv(sys.executable, [sys.executable, '-m',
                              'nova_docker.aio.on_demand', 'serve'] + args)


def serve_serial_proxy(args):
    """nova-serialproxy on the socket this process inherited."""
    from nova.cmd import serialproxy
    from nova.console import websocketproxy

    # Nova's class names itself in super(): give its __init__ the socket.
    proxy = websocketproxy.NovaWebSocketProxy
    proxy.__init__ = functools.partialmethod(
        proxy.__init__, listen_fd=int(os.environ.pop(LISTEN_FD)))
    sys.argv = ['nova-serialproxy'] + args
    return serialproxy.main()


def become_heat_api(sock, state_dir):
    """heat-engine first, then heat-api under gunicorn on this socket.

    heat-api's requests are RPC messages to the engine's topic, and
    RabbitMQ drops a message published to a topic no queue is bound to
    yet (oslo.messaging does not publish them as mandatory): the engine's
    queue must exist before heat-api takes the first request, which then
    waits in the queue until the engine consumes it.
    """
    from nova_docker.aio import cloud
    from nova_docker.aio import layout as layout_mod

    layout = layout_mod.Layout(state_dir)
    cloud.start_heat_engine(layout)
    if not wait_for_queue(layout.broker_url, HEAT_ENGINE_TOPIC,
                          alive=lambda: cloud.heat_engine_runs(layout)):
        raise SystemExit('heat-engine declared no queue %r within %d s, or '
                         'exited: see %s' % (HEAT_ENGINE_TOPIC,
                                             HEAT_ENGINE_START_TIMEOUT,
                                             layout.log('heat-engine')))
    sock.set_inheritable(True)
    argv = cloud.api_command(layout, 'heat-api', 'fd://%d' % sock.fileno())
    os.execv(argv[0], argv)


def wait_for_queue(broker, queue, alive,
                   timeout=HEAT_ENGINE_START_TIMEOUT):
    """Whether ``queue`` came to exist on the broker (a passive declare
    answers) while ``alive()`` held, within ``timeout`` seconds."""
    import amqp.exceptions
    import kombu

    deadline = time.monotonic() + timeout
    with kombu.Connection(broker) as connection:
        while alive() and time.monotonic() < deadline:
            # A passive declare of a missing queue closes its channel.
            with connection.channel() as channel:
                try:
                    channel.queue_declare(queue=queue, passive=True)
                    return True
                except amqp.exceptions.NotFound:
                    pass
            time.sleep(0.2)
    return False


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[0] == 'serve':
        return serve_serial_proxy(argv[1:])
    host, port, service, args = argv[0], int(argv[1]), argv[2], argv[3:]
    sock = listen_until_a_client_connects(host, port)
    if service == 'heat-api':
        become_heat_api(sock, *args)
    else:
        become_the_serial_proxy(sock, args)


if __name__ == '__main__':
    sys.exit(main())
