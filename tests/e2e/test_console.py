"""End to end: `openstack console url show --serial`, then a websocket
client through the all-in-one's nova-serialproxy types into the server's
console and reads the answer."""

import os
import time
from urllib import parse

from websockify import websocket

from tests.e2e import test_cli

# Every wait on the console ends by then.
TIMEOUT = 60


class SerialConsoleClient(websocket.WebSocket):
    """websockify's client, keeping the URL's query (the console token),
    which its request line leaves out."""

    def __init__(self, url):
        super().__init__()
        self._query = parse.urlparse(url).query
        self.connect(url)
        self.socket.settimeout(TIMEOUT)

    def send_request(self, type, path):
        super().send_request(type, path + '?' + self._query)

    def ended(self):
        """True once the proxy closes the connection (within TIMEOUT);
        False if it is still open then."""
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            try:
                if self.recvmsg() is None:
                    return True
            except TimeoutError:
                return False
            except OSError:  # reset: closed too
                return True
        return False

    def type_and_read(self, line, expected):
        self.sendmsg(line)
        seen, deadline = b'', time.monotonic() + TIMEOUT
        while expected not in seen and time.monotonic() < deadline:
            message = self.recvmsg()
            if message is None:
                break
            seen += message
        return seen


class TestSerialConsole(test_cli.CloudTestCase):

    def test_typing_into_the_console(self):
        image = self.create_image(os.path.join(self.images, 'busybox.tar'))
        server = self.create_server(image['id'])
        url = test_cli.osc('console', 'url', 'show', '--serial', '-f',
                           'json', server['id'])['url']
        self.assertTrue(url.startswith('ws://127.0.0.1:'), url)

        client = SerialConsoleClient(url)
        try:
            # The terminal echoes the typed line ('6 \* 7'); 42 is the
            # shell's answer.
            said = client.type_and_read(b'expr 6 \\* 7; echo h""i\n',
                                        b'hi\r\n')
            self.assertIn(b'42\r\n', said)
            self.assertIn(b'hi\r\n', said)

            # Deleted: the session ends (the console's port on the
            # compute host is closed with it).
            test_cli.osc('server', 'delete', '--wait', server['id'])
            self.assertTrue(client.ended(), 'console still open')
        finally:
            if client.socket is not None:  # None: the proxy closed it
                client.close()
