"""The serial console endpoint: what a client of nova-serialproxy's TCP
side sees, with an engine whose terminals are local socket pairs."""

import socket
import threading
import types
import uuid

from nova.console import serial as serial_ports
from nova import exception as nova_exception
import testtools

from nova_docker import console
from nova_docker import exception

# Every wait in these tests ends by then.
TIMEOUT = 10


class FakeTerminal(object):
    """One end of a socket pair; a thread on the other end answers each
    line with 'got <line>' (a shell stand-in)."""

    def __init__(self):
        self.socket, self._shell = socket.socketpair()
        self.closed = threading.Event()
        threading.Thread(target=self._answer, daemon=True).start()

    def _answer(self):
        with self._shell, self._shell.makefile('rb') as lines:
            for line in lines:
                self._shell.sendall(b'got ' + line)

    def close(self):
        self.socket.close()
        self.closed.set()


class FakeEngine(object):

    def __init__(self, status='running', refuse=None, workload_tty=False):
        self.status = status
        self.refuse = refuse
        self.workload_tty = workload_tty
        self.terminals = []
        self.commands = []

    def inspect(self, instance_uuid):
        return {'State': {'Status': self.status},
                'Config': {'Tty': self.workload_tty,
                           'OpenStdin': self.workload_tty}}

    def open_terminal(self, instance_uuid, command, environment):
        self.commands.append((command, environment))
        return self._terminal()

    def attach_terminal(self, instance_uuid):
        self.commands.append('attach')
        return self._terminal()

    def _terminal(self):
        if self.refuse is not None:
            raise self.refuse
        terminal = FakeTerminal()
        self.terminals.append(terminal)
        return terminal


def connect(serial):
    client = socket.create_connection((serial.host, serial.port), TIMEOUT)
    client.settimeout(TIMEOUT)
    return client


def read_until(client, expected):
    data = b''
    while expected not in data:
        chunk = client.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


class SerialConsolesTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.instance = types.SimpleNamespace(uuid=str(uuid.uuid4()))
        self.conf = types.SimpleNamespace(enabled=True,
                                          proxyclient_address='127.0.0.1')

    def consoles(self, engine):
        consoles = console.SerialConsoles(engine, '/bin/sh -l', self.conf)
        self.addCleanup(consoles.close_all)
        return consoles

    def test_disabled_is_nova_unavailable_type(self):
        self.conf.enabled = False
        self.assertRaises(nova_exception.ConsoleTypeUnavailable,
                          self.consoles(FakeEngine()).console, self.instance)

    def test_stopped_server_has_no_endpoint(self):
        before = set(serial_ports.ALLOCATED_PORTS)
        self.assertRaises(nova_exception.InstanceNotReady,
                          self.consoles(FakeEngine('exited')).console,
                          self.instance)
        self.assertEqual(before, serial_ports.ALLOCATED_PORTS)

    def test_session_relays_both_ways_and_close_releases_port(self):
        engine = FakeEngine()
        consoles = self.consoles(engine)
        serial = consoles.console(self.instance)
        self.assertEqual('127.0.0.1', serial.host)
        # Asked again (nova-serialproxy validates the port): the same one.
        self.assertEqual(serial.port,
                         consoles.console(self.instance).port)
        self.assertIn(('127.0.0.1', serial.port),
                      serial_ports.ALLOCATED_PORTS)

        with connect(serial) as client:
            client.sendall(b'echo hi\n')
            self.assertEqual(b'got echo hi\n',
                             read_until(client, b'hi\n'))
            self.assertEqual([(['/bin/sh', '-l'], ['TERM=vt100'])],
                             engine.commands)

            # Closing ends the open session and the listener.
            consoles.close(self.instance)
            self.assertEqual(b'', read_until(client, b'never'))
        self.assertTrue(engine.terminals[0].closed.wait(TIMEOUT))
        self.assertNotIn(('127.0.0.1', serial.port),
                         serial_ports.ALLOCATED_PORTS)
        self.assertRaises(ConnectionRefusedError, connect, serial)

    def test_client_hanging_up_ends_the_terminal_not_the_endpoint(self):
        engine = FakeEngine()
        serial = self.consoles(engine).console(self.instance)
        for line in (b'one\n', b'two\n'):
            with connect(serial) as client:
                client.sendall(line)
                self.assertEqual(b'got ' + line, read_until(client, line))
        self.assertEqual(2, len(engine.terminals))
        self.assertTrue(engine.terminals[0].closed.wait(TIMEOUT))

    def test_workload_on_a_terminal_is_the_console(self):
        engine = FakeEngine(workload_tty=True)
        serial = self.consoles(engine).console(self.instance)
        with connect(serial) as client:
            client.sendall(b'one\n')
            self.assertEqual(b'got one\n', read_until(client, b'one\n'))
        self.assertEqual(['attach'], engine.commands)

    def test_refused_terminal_is_said_on_the_line(self):
        engine = FakeEngine(refuse=exception.ContainerStateConflict(
            action='open a terminal', reason='container is paused'))
        serial = self.consoles(engine).console(self.instance)
        with connect(serial) as client:
            said = read_until(client, b'never')
        self.assertIn(b'console unavailable: ', said)
        self.assertIn(b'container is paused', said)

    def test_port_taken_by_another_process_is_skipped(self):
        # Nova's allocator found a port free; another process binds it
        # before this driver does.
        squatter = socket.socket()
        self.addCleanup(squatter.close)
        squatter.bind(('127.0.0.1', 0))
        taken = squatter.getsockname()[1]
        real_acquire = serial_ports.acquire_port
        offered = []

        def acquire(host):
            if not offered:
                offered.append(taken)
                serial_ports.ALLOCATED_PORTS.add((host, taken))
                return taken
            return real_acquire(host)
        self.patch(serial_ports, 'acquire_port', acquire)

        serial = self.consoles(FakeEngine()).console(self.instance)
        self.assertNotEqual(taken, serial.port)
        self.assertNotIn(('127.0.0.1', taken), serial_ports.ALLOCATED_PORTS)
        with connect(serial) as client:
            client.sendall(b'x\n')
            self.assertEqual(b'got x\n', read_until(client, b'x\n'))
