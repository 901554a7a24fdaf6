"""What only Podman does: the podman suite runs the whole API suite with
Podman as every compute host's engine (tools/run-tests.sh podman sets
NOVA_DOCKER_TEST_ENGINE=podman); these are the tests of its own."""

import os

from tests.api import base
from tests import support


def exec_monitors(container_id):
    """Process ids of the conmon processes of the container's exec
    sessions."""
    pids = []
    for pid in filter(str.isdigit, os.listdir('/proc')):
        try:
            with open('/proc/%s/cmdline' % pid, 'rb') as f:
                argv = f.read().split(b'\0')
        except OSError:
            continue
        if (argv[0].endswith(b'conmon') and b'--exec-attach' in argv and
                container_id.encode() in argv):
            pids.append(int(pid))
    return pids


class PodmanExecTest(base.DockerAPITestCase):

    def setUp(self):
        if not support.on_podman():
            # Not a missing engine: this test is of another engine's
            # behaviour (the api suite leaves this module out).
            self.skipTest('a test of Podman alone: tools/run-tests.sh '
                          'podman runs it (NOVA_DOCKER_TEST_ENGINE=podman)')
        super().setUp()

    def test_exec_sessions_leave_no_monitor_behind(self):
        # Podman's conmon waits [engine] exit_command_delay after an exec
        # before cleaning the session up (300 s by default, as Docker
        # keeps sessions five minutes); the test engine sets 10 s, as
        # README tells operators. The driver reads an exec's exit code at
        # once, so the short delay loses nothing.
        server = self.boot(self.create_docker_image())
        container_id = self.container(server)['Id']
        self.assertEqual('ok\n', self.exec_in(server, 'echo', 'ok'))
        support.wait_for(lambda: not exec_monitors(container_id), 60,
                         'the exec session monitors (conmon) gone')
