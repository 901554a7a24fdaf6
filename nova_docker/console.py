"""Serial consoles: one TCP endpoint per server on the compute host, which
nova-serialproxy connects users to (as it does to the TCP serial ports of
the libvirt driver's guests).

A workload that runs on a terminal with stdin open (flavor extra spec
``docker:tty``) is the console, as a VM's serial console is the guest's
own: each connection attaches to that terminal. Otherwise, the default,
each connection gets a process of its own in the container, ``[docker]
serial_console_command`` (a shell) on a terminal of its own, through the
engine's exec, hung up when the connection ends: most images' workloads
neither read stdin nor run on a terminal, so attaching to them would give
a console nobody can type into, while a shell works with any image that
has one. Bytes go both ways unchanged.

An endpoint opens on the first console request for a running server, on
``[serial_console] proxyclient_address`` with a port from ``[serial_console]
port_range`` (Nova's own allocator, ``nova.console.serial``), and closes,
its port released and its sessions ended, when the server stops, is
deleted, shelved or moved, or nova-compute stops. Background work runs in
native threads (Nova's patching makes them green in eventlet mode).
"""

import errno
import functools
import selectors
import shlex
import socket
import threading

from nova.console import serial as serial_ports
from nova.console import type as console_type
from nova import exception as nova_exception
from oslo_log import log as logging
from oslo_utils import units

from nova_docker import exception

LOG = logging.getLogger(__name__)

# A serial line knows no terminal type; this one every program handles.
TERMINAL_ENVIRONMENT = ['TERM=vt100']
CHUNK_BYTES = 64 * units.Ki
# Ports in use by another process (between Nova's check and our bind) are
# skipped; this many at most before giving up.
BIND_ATTEMPTS = 5
# How long closing waits for the endpoint's threads to notice.
CLOSE_SECONDS = 5.0


class SerialConsoles(object):
    """This host's serial console endpoints, by instance uuid."""

    def __init__(self, engine, command, serial_conf):
        self._engine = engine
        self._command = shlex.split(command)
        # Nova's [serial_console] group.
        self._conf = serial_conf
        self._lock = threading.Lock()
        self._endpoints = {}

    def console(self, instance):
        """The server's endpoint (opened now if it is not open yet), as
        Nova's ConsoleSerial; a server that is not running has none."""
        if not self._conf.enabled:
            # What Nova itself answers, before asking any driver.
            raise nova_exception.ConsoleTypeUnavailable(console_type='serial')
        record = self._engine.inspect(instance.uuid)
        if record['State']['Status'] != 'running':
            raise nova_exception.InstanceNotReady(instance_id=instance.uuid)
        with self._lock:
            endpoint = self._endpoints.get(instance.uuid)
            if endpoint is None:
                endpoint = _Endpoint(self._conf.proxyclient_address,
                                     self._sessions_of(instance.uuid,
                                                       record['Config']))
                self._endpoints[instance.uuid] = endpoint
                LOG.info('Serial console listening on %s:%d',
                         endpoint.host, endpoint.port, instance=instance)
        return console_type.ConsoleSerial(host=endpoint.host,
                                          port=endpoint.port)

    def close(self, instance):
        with self._lock:
            endpoint = self._endpoints.pop(instance.uuid, None)
        if endpoint is not None:
            endpoint.close()
            LOG.info('Serial console on %s:%d closed', endpoint.host,
                     endpoint.port, instance=instance)

    def close_all(self):
        with self._lock:
            endpoints, self._endpoints = list(self._endpoints.values()), {}
        for endpoint in endpoints:
            endpoint.close()

    def _sessions_of(self, instance_uuid, config):
        """What each connection gets: the workload's own terminal, or a
        shell on a terminal of its own."""
        if config.get('Tty') and config.get('OpenStdin'):
            return functools.partial(self._engine.attach_terminal,
                                     instance_uuid)
        return functools.partial(self._engine.open_terminal, instance_uuid,
                                 self._command, TERMINAL_ENVIRONMENT)


class _Endpoint(object):
    """A listening socket and the sessions of its connections."""

    def __init__(self, host, open_terminal):
        self.host = host
        self._listener, self.port = _listen(host)
        self._open_terminal = open_terminal
        self._closing = threading.Event()
        # Written once at close and never read: every thread's selector
        # sees it readable from then on.
        self._wake, self._waker = socket.socketpair()
        self._lock = threading.Lock()
        self._sessions = []
        self._thread = threading.Thread(
            target=self._accept, name='nova-docker-console-%d' % self.port,
            daemon=True)
        self._thread.start()

    def close(self):
        self._closing.set()
        self._waker.send(b'x')
        self._thread.join(CLOSE_SECONDS)
        with self._lock:
            sessions = list(self._sessions)
        for session in sessions:
            session.join(CLOSE_SECONDS)
        self._listener.close()
        serial_ports.release_port(host=self.host, port=self.port)
        self._wake.close()
        self._waker.close()

    def _accept(self):
        with selectors.DefaultSelector() as selector:
            selector.register(self._listener, selectors.EVENT_READ)
            selector.register(self._wake, selectors.EVENT_READ)
            while not self._closing.is_set():
                for key, _events in selector.select():
                    if key.fileobj is not self._listener:
                        continue
                    try:
                        client, _address = self._listener.accept()
                    except OSError as e:
                        LOG.warning('Serial console on port %d: %s',
                                    self.port, e)
                        continue
                    self._start_session(client)

    def _start_session(self, client):
        session = threading.Thread(
            target=self._session, args=(client,), daemon=True,
            name='nova-docker-console-%d-session' % self.port)
        with self._lock:
            self._sessions = [s for s in self._sessions if s.is_alive()]
            self._sessions.append(session)
        session.start()

    def _session(self, client):
        with client:
            try:
                terminal = self._open_terminal()
            except (exception.EngineError, exception.EngineUnavailable,
                    exception.EngineRefused,
                    exception.ContainerStateConflict,
                    nova_exception.InstanceNotFound) as e:
                # A paused or stopping server, an engine away: say so on
                # the line, as a console would, and hang up.
                _send_quietly(client, ('console unavailable: %s\r\n' %
                                       e.format_message()).encode())
                return
            try:
                _relay(client, terminal.socket, self._wake, self._closing)
            finally:
                terminal.close()


def _listen(host):
    """A listening TCP socket on a port of [serial_console] port_range."""
    taken = []
    try:
        for _attempt in range(BIND_ATTEMPTS):
            port = serial_ports.acquire_port(host)
            listener = socket.socket(
                socket.AF_INET6 if ':' in host else socket.AF_INET)
            # Sessions of a closed endpoint may leave TIME_WAIT behind.
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                listener.bind((host, port))
            except OSError as e:
                listener.close()
                if e.errno != errno.EADDRINUSE:
                    serial_ports.release_port(host=host, port=port)
                    raise
                # Another process bound it since Nova checked it.
                taken.append(port)
                continue
            listener.listen(1)
            return listener, port
    finally:
        for port in taken:
            serial_ports.release_port(host=host, port=port)
    raise nova_exception.SocketPortRangeExhaustedException(host=host)


def _relay(client, terminal, wake, closing):
    """Copy bytes both ways until either side hangs up or closing."""
    peer = {client: terminal, terminal: client}
    with selectors.DefaultSelector() as selector:
        for sock in (client, terminal, wake):
            selector.register(sock, selectors.EVENT_READ)
        while not closing.is_set():
            for key, _events in selector.select():
                if key.fileobj is wake:
                    return
                try:
                    if not _copy(key.fileobj, peer[key.fileobj]):
                        return
                except OSError:
                    return


def _copy(source, target):
    data = source.recv(CHUNK_BYTES)
    if not data:
        return False
    target.sendall(data)
    # TLS keeps decrypted bytes the selector cannot see.
    pending = getattr(source, 'pending', None)
    while pending is not None and pending():
        target.sendall(source.recv(CHUNK_BYTES))
    return True


def _send_quietly(sock, data):
    try:
        sock.sendall(data)
    except OSError:
        pass
