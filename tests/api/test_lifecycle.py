"""The server lifecycle through Nova's API, checked on the engine."""

from nova import context as nova_context
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

        started = self.started_at(server)
        server = self._reboot_server(server)
        self.assertEqual('running', self.container_status(server))
        restarted = self.started_at(server)
        self.assertGreater(restarted, started)

        server = self._reboot_server(server, hard=True)
        self.assertEqual('running', self.container_status(server))
        self.assertGreater(self.started_at(server), restarted)

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

    def test_resources_reach_placement(self):
        info = self.docker.info()
        rp_uuid = self._get_provider_uuid_by_host(self.host)
        inventory = self._get_provider_inventory(rp_uuid)
        self.assertEqual(info['NCPU'], inventory['VCPU']['total'])
        self.assertEqual(info['MemTotal'] // units.Mi,
                         inventory['MEMORY_MB']['total'])
        self.assertGreater(inventory['DISK_GB']['total'], 0)
        hypervisors = self.admin_api.api_get(
            '/os-hypervisors/detail').body['hypervisors']
        self.assertEqual(['docker'],
                         [h['hypervisor_type'] for h in hypervisors])
        traits = self._get_provider_traits(rp_uuid)
        self.assertIn('COMPUTE_IMAGE_TYPE_RAW', traits)
        self.assertNotIn('COMPUTE_IMAGE_TYPE_QCOW2', traits)


class PowerSyncTest(base.DockerAPITestCase):
    # Nova's power-state sync stops the server by RPC cast while it holds
    # the instance lock; a cast run as a call would wait on itself.
    CAST_AS_CALL = False

    def setUp(self):
        super().setUp()
        self.image_id = self.create_docker_image()

    def test_container_killed_behind_novas_back_is_seen_shutoff(self):
        server = self.boot(self.image_id)
        self.docker.api.kill(self.container(server)['Id'])

        self.compute.manager._sync_power_states(
            nova_context.get_admin_context())

        server = self._wait_for_state_change(server, 'SHUTOFF',
                                             max_retries=60)
        self.assertEqual(4, server['OS-EXT-STS:power_state'])  # SHUTDOWN
