"""nova-compute killed mid-operation on the networked all-in-one.

The real process dies by SIGKILL at four points: during an image download,
while a port is half plugged, between the infra container and the
workload, during a snapshot upload (nova_docker/crashpoint.py: the
all-in-one's nova-compute is started again with NOVA_DOCKER_CRASH_AT set,
the way ``up`` starts it; it kills itself there). Each crash is followed by
the next armed restart, the last by the all-in-one's own ``up``. Then each
interrupted build is in ERROR with a fault that says why, the snapshotted
server is ACTIVE and running, and after deleting the ERROR servers nothing
is left: no container, infra container, veth, switch port, snapshot tag or
staging file.

The cases run one after the other in one test, and this module runs alone
(tools/run-tests.sh): nova-compute is down between the crashes.
"""

import glob
import os
import signal
import subprocess
import tempfile
import time
from unittest import mock

from nova_docker.aio import bootstrap
from nova_docker.aio import cloud
from nova_docker.aio import layout as layout_mod
from nova_docker.aio import services
from nova_docker import crashpoint
from nova_docker import naming
from nova_docker import netplan
from tests.e2e.test_cli import ROOT, STATE, inspect, osc
from tests.e2e.test_network import NETWORK, SETTINGS, PrivateNetworkCase, \
    host_link_exists, switch_ports

LAYOUT = layout_mod.Layout(STATE)
COMPUTE = 'nova-compute'
HOST = SETTINGS.get('compute_host', '')
WAIT_SECONDS = 180


def wait_for(predicate, what, timeout=WAIT_SECONDS):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError('timed out after %ds waiting for %s' % (
                timeout, what))
        time.sleep(0.5)


class TestCrashMidOperation(PrivateNetworkCase):

    def compute_pid(self):
        pid = services.read_pid(LAYOUT.pidfile(COMPUTE))
        if pid is None:
            self._reap()
        return pid

    @staticmethod
    def _reap():
        """A nova-compute this test started is its child: collect it."""
        try:
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass
        except ChildProcessError:
            pass

    def start_compute(self, crash_at):
        """Start nova-compute as ``up`` does, armed to kill itself at
        crash_at; wait until it reports (after its init_host)."""
        self.assertIsNone(self.compute_pid(), 'nova-compute still runs')
        started = time.time()
        with mock.patch.dict(os.environ,
                             {crashpoint.ENVIRONMENT: crash_at}):
            cloud.start_nova_daemon(LAYOUT, COMPUTE)
        wait_for(lambda: bootstrap.nova_daemons_up(LAYOUT, started),
                 'nova-compute to report after its restart')

    def wait_crashed(self, point):
        wait_for(lambda: self.compute_pid() is None,
                 'nova-compute to die at crash point %s' % point)

    def start_server(self, image):
        """server create (no --wait): the build is what crashes."""
        name = self.unique('crash')
        server = osc('server', 'create', '--image', image, '--flavor',
                     'm1.tiny', '--network', NETWORK, name, '-f', 'json')
        self.addCleanup(self._delete_quietly, server['id'])
        return server['id']

    def ports_of(self, server_id):
        return [p['ID'] for p in osc('port', 'list', '--server', server_id,
                                     '-f', 'json')]

    def wait_ports(self, server_id):
        wait_for(lambda: self.ports_of(server_id),
                 'a port bound for %s' % server_id)
        return self.ports_of(server_id)

    def assert_nothing_left(self, server_id, port_ids):
        self.assertIsNone(inspect(server_id))
        self.assertIsNone(inspect(server_id + '-infra'))
        for port_id in port_ids:
            self.assertEqual([], switch_ports(port_id))
            for dev in (netplan.host_dev(port_id), netplan.peer_dev(port_id)):
                self.assertFalse(host_link_exists(dev), dev)

    def test_kill_9_mid_operation_leaves_nothing(self):
        image = self.create_image(os.path.join(self.images, 'busybox.tar'))
        steady = self.create_server('busybox', nic=('--network', NETWORK))
        self.assertEqual('ACTIVE', steady['status'], steady.get('fault'))
        steady = steady['id']
        os.kill(self.compute_pid(), signal.SIGKILL)
        self.wait_crashed('(none: killed by the test)')

        builds = {}
        for point, image_id in ((crashpoint.IMAGE_DOWNLOAD, image['id']),
                                (crashpoint.PORT_PLUG, 'busybox'),
                                (crashpoint.INFRA_CREATED, 'busybox')):
            self.start_compute(point)
            builds[point] = self.start_server(image_id)
            self.wait_crashed(point)
        self.start_compute(crashpoint.SNAPSHOT_UPLOAD)
        snapshot = osc('server', 'image', 'create', '--name',
                       self.unique('snapshot'), steady, '-f', 'json')
        self.addCleanup(osc, 'image', 'delete', snapshot['id'], check=False)
        self.wait_crashed(crashpoint.SNAPSHOT_UPLOAD)

        # Started again the way an operator does.
        subprocess.run(['python3', '-m', 'nova_docker.aio',
                        '--state-dir', STATE, 'up'], cwd=ROOT, check=True,
                       capture_output=True, timeout=600)

        self.assertEqual('running', inspect(steady)['State']['Status'])
        self.wait_status(steady, 'ACTIVE')
        self.assertEqual('', subprocess.run(
            ['docker', 'images', '-q',
             naming.snapshot_reference(snapshot['id'], HOST)],
            capture_output=True, text=True, check=True).stdout.strip())
        self.assertEqual([], glob.glob(os.path.join(
            tempfile.gettempdir(), naming.staging_prefix(HOST) + '*')))
        for point, server_id in builds.items():
            server = osc('server', 'show', server_id, '-f', 'json')
            self.assertEqual('ERROR', server['status'], point)
            self.assertIn('stopped (crash or restart) while it was building',
                          str(server.get('fault')), point)
            if point == crashpoint.IMAGE_DOWNLOAD:
                # Nova allocates the port while spawn downloads the image:
                # the process may die before the port exists.
                ports = self.ports_of(server_id)
            else:
                ports = self.wait_ports(server_id)
            osc('server', 'delete', '--wait', server_id)
            self.assert_nothing_left(server_id, ports)
            self.assertEqual([], osc('port', 'list', '--device-id',
                                     server_id, '-f', 'json'), point)
