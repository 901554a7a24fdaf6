"""The server lifecycle through Nova's API, checked on the engine."""

from oslo_utils import units

from tests.api import base


class LifecycleTest(base.DockerAPITestCase):

    def setUp(self):
        super().setUp()
        self.image_id = self.create_docker_image()

    def test_boot_runs_a_limited_container(self):
        flavor = self.create_flavor(memory_mb=96, vcpus=2)
        server = self.boot(self.image_id, flavor)

        container = self.container(server)
        self.assertEqual('running', container['State']['Status'])
        host_config = container['HostConfig']
        self.assertEqual(96 * units.Mi, host_config['Memory'])
        self.assertEqual(96 * units.Mi, host_config['MemorySwap'])
        self.assertEqual(2 * host_config['CpuPeriod'],
                         host_config['CpuQuota'])
        self.assertEqual(2048, host_config['CpuShares'])
        self.assertEqual(self.host,
                         server['OS-EXT-SRV-ATTR:host'])
        self.assertEqual(server['OS-EXT-SRV-ATTR:hostname'],
                         container['Config']['Hostname'])

    def test_lifecycle(self):
        server = self.boot(self.image_id)
        self.assertEqual('running', self.container_status(server))

        server = self._stop_server(server)
        self.assertEqual(4, server['OS-EXT-STS:power_state'])  # SHUTDOWN
        self.assertEqual('exited', self.container_status(server))

        server = self._start_server(server)
        self.assertEqual('running', self.container_status(server))

        started = self.container(server)['State']['StartedAt']
        server = self._reboot_server(server)
        self.assertEqual('running', self.container_status(server))
        restarted = self.container(server)['State']['StartedAt']
        self.assertGreater(restarted, started)

        server = self._reboot_server(server, hard=True)
        self.assertEqual('running', self.container_status(server))
        self.assertGreater(self.container(server)['State']['StartedAt'],
                           restarted)

        self.api.post_server_action(server['id'], {'pause': None})
        server = self._wait_for_state_change(server, 'PAUSED')
        self.assertEqual('paused', self.container_status(server))

        self.api.post_server_action(server['id'], {'unpause': None})
        server = self._wait_for_state_change(server, 'ACTIVE')
        self.assertEqual('running', self.container_status(server))

        self._delete_server(server)
        self.assert_no_container(server)

    def test_console_log_shows_workload_output(self):
        server = self.boot(self.image_id)
        output = self.api.post_server_action(
            server['id'], {'os-getConsoleOutput': {'length': 50}})['output']
        self.assertIn('nova-docker says hello from %s' %
                      server['OS-EXT-SRV-ATTR:hostname'], output)
