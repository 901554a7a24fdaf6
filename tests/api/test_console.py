"""The serial console through Nova's API: the URL nova-serialproxy serves,
the host and port Nova's token leads to, and a shell in the container at
the other end of it."""

import random
import socket
import time
from urllib import parse

from nova.console import serial as serial_ports
from nova.tests.functional.api import client as api_client

from tests.api import base
from tests import support

# Every wait on the console ends by then (a loaded CI machine).
TIMEOUT = 30


class SerialConsoleTest(base.DockerAPITestCase):

    def setUp(self):
        super().setUp()
        # Ports of this test's own: a test in another process would take a
        # port this one just saw released, before it checks nothing listens.
        start = random.randrange(20000, 32000, 50)
        self.flags(enabled=True, port_range='%d:%d' % (start, start + 50),
                   group='serial_console')

    def console_url(self, server):
        return self.api.api_post(
            '/servers/%s/remote-consoles' % server['id'],
            {'remote_console': {'protocol': 'serial', 'type': 'serial'}}
        ).body['remote_console']['url']

    def console_endpoint(self, server):
        """(host, port) nova-serialproxy would connect to, as Nova's
        console token says."""
        url = self.console_url(server)
        self.assertTrue(url.startswith('ws://127.0.0.1:6083/?'), url)
        token = parse.parse_qs(parse.urlparse(url).query)['token'][0]
        connect_info = self.api.api_get(
            '/os-console-auth-tokens/%s' % token).body['console']
        self.assertEqual(server['id'], connect_info['instance_uuid'])
        return connect_info['host'], int(connect_info['port'])

    def type_and_read(self, endpoint, line, expected):
        """Type line on a new console connection; returns what came back
        once expected is among it (or the connection ended)."""
        with socket.create_connection(endpoint, TIMEOUT) as client:
            client.settimeout(TIMEOUT)
            client.sendall(line)
            seen, deadline = b'', time.monotonic() + TIMEOUT
            while expected not in seen and time.monotonic() < deadline:
                chunk = client.recv(4096)
                if not chunk:
                    break
                seen += chunk
        return seen

    def assert_console_refused(self, server, status, message):
        error = self.assertRaises(
            api_client.OpenStackApiException, self.console_url, server)
        self.assertEqual(status, error.response.status_code)
        self.assertIn(message, error.response.text)

    def assert_nothing_listens(self, endpoint):
        self.assertRaises(ConnectionRefusedError, socket.create_connection,
                          endpoint, TIMEOUT)
        self.assertNotIn(endpoint, serial_ports.ALLOCATED_PORTS)

    def shells(self, server):
        return [line for line in self.exec_in(server, 'ps', '-o',
                                              'args').splitlines()
                if line.strip() == '/bin/sh']

    def test_console_is_a_shell_in_the_container(self):
        server = self.boot(self.create_docker_image())
        endpoint = self.console_endpoint(server)
        self.assertEqual('127.0.0.1', endpoint[0])
        # nova-serialproxy checks the port with nova-compute: the same one.
        self.assertEqual(endpoint, self.console_endpoint(server))

        # What the shell prints comes back (the terminal's echo of the
        # typed line holds '6 \* 7', never 42), and it ran in the server.
        said = self.type_and_read(
            endpoint, b'expr 6 \\* 7; echo typed > /tmp/console\n', b'42')
        self.assertIn(b'42\r\n', said)
        self.assertEqual('typed\n', self.exec_in(server, 'cat',
                                                 '/tmp/console'))
        # The session's shell ended with its connection.
        self.wait_for(lambda: not self.shells(server))

        # Turned off on the compute host: Nova's usual answer, the server
        # stays ACTIVE.
        self.flags(enabled=False, group='serial_console')
        self.assert_console_refused(server, 400,
                                    'Unavailable console type serial')
        self.assertEqual('ACTIVE', self.api.get_server(server['id'])['status'])
        self.flags(enabled=True, group='serial_console')

        # Stopped: nothing listens, no URL; started again: a console.
        server = self._stop_server(server)
        self.assert_nothing_listens(endpoint)
        self.assert_console_refused(server, 409, 'is not ready')
        self.assertEqual('SHUTOFF',
                         self.api.get_server(server['id'])['status'])
        server = self._start_server(server)
        endpoint = self.console_endpoint(server)
        self.assertIn(b'42\r\n', self.type_and_read(
            endpoint, b'expr 6 \\* 7\n', b'42'))

        # Deleted: the port is free again.
        self._delete_server(server)
        self.assert_nothing_listens(endpoint)

    def test_workload_on_a_terminal_is_the_console(self):
        # The flavor puts the workload, an interactive shell, on a terminal.
        server = self.boot(
            self.create_docker_image(os_command_line='/bin/sh'),
            self.create_flavor(extra_specs={'docker:tty': 'true'}))
        endpoint = self.console_endpoint(server)
        self.assertIn(b'set\r\n', self.type_and_read(
            endpoint, b'X=41; echo s""et\n', b'set\r\n'))
        # A second connection finds the same shell (X is still set), and
        # no other shell was started for either.
        self.assertIn(b'42\r\n', self.type_and_read(
            endpoint, b'echo $((X + 1))\n', b'42\r\n'))
        self.assertEqual(['/bin/sh'], self.shells(server))
        self._delete_server(server)
        self.assert_nothing_listens(endpoint)

    def wait_for(self, condition):
        support.wait_for(condition, TIMEOUT, 'the condition')
