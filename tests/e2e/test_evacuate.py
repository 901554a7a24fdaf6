"""End to end on the two-host all-in-one: the second host's nova-compute
fails (stopped, forced down), a server with a port there is evacuated to
the first host through the CLI, and the second host, back, removes what
the server left there. It runs alone (tools/run-tests.sh): meanwhile the
second host takes no other test's servers.
"""

import os
import time

from nova_docker.aio import dockerhost
from nova_docker.aio import layout
from tests.e2e.test_cli import STATE, osc
from tests.e2e.test_migration import TwoHostCase
from tests.e2e.test_network import SETTINGS

# Every wait on the second host's nova-compute ends by then.
TIMEOUT = 180


class TestTwoHostEvacuate(TwoHostCase):

    def test_networked_server_evacuates_and_the_old_host_cleans_up(self):
        image = self.create_image(os.path.join(self.images, 'busybox.tar'))
        first = SETTINGS['compute_host']
        failing = self.other(first)
        moving = self.boot_on(image['id'], failing)
        staying = self.boot(image['id'])['id']
        port, port_staying = self.port_of(moving), self.port_of(staying)
        addresses = self.server(moving)['addresses']
        second = dockerhost.DockerHost(layout.Layout(STATE))
        drive = os.path.join(second.host.root, 'nova', 'instances', moving)
        self.assertTrue(os.path.isdir(drive), drive)

        second.stop_compute()
        self.addCleanup(self.bring_back, second, failing)
        osc('--os-compute-api-version', '2.11', 'compute', 'service', 'set',
            '--down', failing, 'nova-compute')
        # Before 2.95 an evacuated server keeps running.
        osc('--os-compute-api-version', '2.94', 'server', 'evacuate',
            '--wait', moving)
        moved = self.wait_status(moving, 'ACTIVE')
        self.assertEqual(first, moved['OS-EXT-SRV-ATTR:host'])
        self.assertEqual(addresses, moved['addresses'])
        self.assert_reach_each_other(moving, staying, port, port_staying)

        self.bring_back(second, failing)
        deadline = time.monotonic() + TIMEOUT
        while os.path.exists(drive) and time.monotonic() < deadline:
            time.sleep(1)
        self.assertFalse(os.path.exists(drive), 'config drive left')
        self.assert_lives_on(moving, port['id'], first)
        self.assert_reach_each_other(moving, staying, port, port_staying)

        for server_id in (moving, staying):
            osc('server', 'delete', '--wait', server_id)
        for host in self.hosts:
            for server_id, port_id in ((moving, port['id']),
                                       (staying, port_staying['id'])):
                self.assert_nothing_on(host, server_id, port_id)

    def boot_on(self, image_id, host):
        name = self.unique('server')
        server = osc('--os-compute-api-version', '2.74', 'server', 'create',
                     '--image', image_id, '--flavor', 'm1.tiny', '--network',
                     'private', '--host', host, '--config-drive', 'True',
                     '--wait', name, '-f', 'json')
        self.addCleanup(self._delete_quietly, server['id'])
        self.assertEqual(host, self.server(server['id'])[
            'OS-EXT-SRV-ATTR:host'])
        return server['id']

    def bring_back(self, second, host):
        """The failed host's nova-compute runs again and is no longer
        forced down (idempotent: also the test's cleanup)."""
        second.start_compute()
        osc('--os-compute-api-version', '2.11', 'compute', 'service', 'set',
            '--up', host, 'nova-compute')
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            service = osc('compute', 'service', 'list', '--service',
                          'nova-compute', '--host', host, '-f', 'json')
            if service and service[0]['State'] == 'up':
                return
            time.sleep(2)
        self.fail('nova-compute of %s did not come back' % host)
