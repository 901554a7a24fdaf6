"""DockerDriver's host facts against the real engine: resources, the
provider tree and what the host reports to Nova."""

import os
import socket

import fixtures

from nova.compute import power_state
from nova.compute import provider_tree
from nova import conf as nova_conf
from nova import exception as nova_exception
from nova.virt import virtapi
import os_resource_classes as orc
from oslo_serialization import jsonutils
from oslo_utils import units
from oslo_utils import uuidutils

from nova_docker import driver as driver_mod
from nova_docker import exception
from tests.functional import base

CONF = nova_conf.CONF


class HostTest(base.DriverTestCase):

    def test_available_resource(self):
        info = self.docker.info()
        resources = self.driver.get_available_resource(self.host)
        self.assertEqual('docker', resources['hypervisor_type'])
        self.assertEqual(info['NCPU'], resources['vcpus'])
        self.assertEqual(info['MemTotal'] // units.Mi,
                         resources['memory_mb'])
        self.assertGreater(resources['local_gb'], 0)
        self.assertGreaterEqual(resources['local_gb'],
                                resources['local_gb_used'])
        self.assertEqual(self.host, resources['hypervisor_hostname'])
        self.assertGreater(resources['hypervisor_version'], 0)
        arch = resources['supported_instances'][0][0]
        self.assertEqual([(arch, 'docker', 'exe')],
                         resources['supported_instances'])
        self.assertEqual(info['NCPU'], jsonutils.loads(
            resources['cpu_info'])['topology']['cores'])
        # The node's identity is the one Nova keeps in state_path.
        with open(os.path.join(CONF.state_path, 'compute_id')) as f:
            self.assertEqual(f.read().strip(), resources['uuid'])
        self.assertEqual([self.host], self.driver.get_available_nodes())

    def test_provider_tree_inventory(self):
        self.flags(cpu_allocation_ratio=8.0, ram_allocation_ratio=1.5,
                   disk_allocation_ratio=None,
                   initial_disk_allocation_ratio=1.2,
                   reserved_host_cpus=1, reserved_host_memory_mb=256,
                   reserved_host_disk_mb=2049)
        info = self.docker.info()
        tree = provider_tree.ProviderTree()
        tree.new_root(self.host, uuidutils.generate_uuid())
        self.driver.update_provider_tree(tree, self.host)
        inventory = tree.data(self.host).inventory

        self.assertEqual({orc.VCPU, orc.MEMORY_MB, orc.DISK_GB},
                         set(inventory))
        vcpu = inventory[orc.VCPU]
        self.assertEqual((info['NCPU'], info['NCPU'], 8.0, 1),
                         (vcpu['total'], vcpu['max_unit'],
                          vcpu['allocation_ratio'], vcpu['reserved']))
        memory = inventory[orc.MEMORY_MB]
        self.assertEqual((info['MemTotal'] // units.Mi, 1.5, 256),
                         (memory['total'], memory['allocation_ratio'],
                          memory['reserved']))
        disk = inventory[orc.DISK_GB]
        self.assertEqual((1.2, 3), (disk['allocation_ratio'],
                                    disk['reserved']))
        self.assertGreater(disk['total'], 0)
        self.assertEqual(disk['total'], disk['max_unit'])

        # Ratios already in Placement stay unless nova.conf sets them.
        self.flags(initial_disk_allocation_ratio=9.0)
        self.driver.update_provider_tree(tree, self.host)
        self.assertEqual(
            1.2, tree.data(self.host).inventory[orc.DISK_GB][
                'allocation_ratio'])

    def test_host_uptime_and_ip(self):
        self.flags(my_ip='192.0.2.7')
        uptime = self.driver.get_host_uptime()
        self.assertRegex(uptime, r'^ \d\d:\d\d:\d\d up ')
        self.assertEqual('192.0.2.7', self.driver.get_host_ip_addr())

    def start_without_engine(self, url):
        """init_host of a host whose engine does not answer: nova-compute
        starts, with a warning naming the engine and the option."""
        driver = driver_mod.DockerDriver(virtapi.VirtAPI())
        driver.init_host(self.host)
        self.addCleanup(driver.cleanup_host, self.host)
        # It never answered: which engine should serve there is unknown.
        self.assertIn('The container engine at %s is not answering' % url,
                      self.logger.output)
        self.assertIn('api_url', self.logger.output)
        self.assertIn('nova-compute starts anyway', self.logger.output)
        return driver

    def test_init_host_with_an_unreachable_engine(self):
        url = 'unix:///tmp/nobody-%s.sock' % uuidutils.generate_uuid()
        self.flags(api_url=url, group='docker')
        driver = self.start_without_engine(url)
        # What nova-compute's start-up asks: nothing known to run, power
        # state unknown (Nova leaves such servers alone).
        instance = self.make_instance()
        self.assertEqual([], driver.list_instance_uuids())
        self.assertEqual(power_state.NOSTATE,
                         driver.get_info(instance, use_cache=False).state)
        # Nova's power sync skips its cycles (servers keep their state).
        self.assertRaises(nova_exception.VirtDriverNotReady,
                          driver.get_num_instances)
        # Once it takes requests, operations fail naming the engine.
        self.assertRaises(exception.EngineUnavailable,
                          driver.get_available_resource, self.host)
        e = self.assertRaises(exception.EngineUnavailable, driver.get_info,
                              instance)
        self.assertIsInstance(e, nova_exception.HypervisorUnavailable)
        self.assertIn(url, e.format_message())

    def test_init_host_with_an_engine_that_does_not_answer(self):
        # A socket that takes connections but never answers: the driver
        # gives up after [docker] api_timeout.
        path = os.path.join(self.useFixture(fixtures.TempDir()).path,
                            'silent.sock')
        silent = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.addCleanup(silent.close)
        silent.bind(path)
        silent.listen(8)
        url = 'unix://' + path
        # No engine watch: its probe would wait 5 s for this socket too.
        self.flags(api_url=url, api_timeout=1, engine_watch_seconds=0,
                   group='docker')
        self.start_without_engine(url)

    def test_init_host_with_a_closed_tcp_port(self):
        url = 'tcp://127.0.0.1:9'
        self.flags(api_url=url, group='docker', api_timeout=5)
        self.start_without_engine(url)
