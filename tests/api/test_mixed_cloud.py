"""A mixed cloud: one nova-compute running this driver and one running a
KVM stand-in (Nova's fake driver reporting what a libvirt/KVM host
reports), scheduled with the filters the devstack plugin configures.
Docker images land on the Docker host, other images on the KVM host."""

import io
import sys
import types

import fixtures
from nova import context as nova_context
from nova.objects import fields
from nova.virt import fake

from tests.api import base
from tests.devstack import harness
from tests import support

KVM_DRIVER_MODULE = 'nova.virt.ndtest_kvm'
DOCKER_TRAIT = 'CUSTOM_NOVA_DOCKER'


class KVMHostDriver(fake.FakeDriver):
    """A KVM host as the scheduler sees one: hypervisor type qemu/kvm and
    the image types libvirt boots (raw, qcow2, ...)."""

    capabilities = dict(
        fake.FakeDriver.capabilities,
        supports_image_type_qcow2=True,
        supports_image_type_raw=True,
        supports_image_type_iso=True,
        supports_image_type_ami=True,
    )

    def __init__(self, virtapi, read_only=False):
        super().__init__(virtapi, read_only)
        self.host_status_base['hypervisor_type'] = fields.HVType.QEMU
        self.host_status_base['supported_instances'] = [
            (fields.Architecture.X86_64, fields.HVType.QEMU,
             fields.VMMode.HVM),
            (fields.Architecture.X86_64, fields.HVType.KVM,
             fields.VMMode.HVM),
        ]


class MixedCloudTest(base.DockerAPITestCase):

    def setUp(self):
        self.kvm_host = 'kvm-' + support.unique_host()
        # Nova loads only nova.virt.<compute_driver>: make the stand-in a
        # module there for the length of the test.
        module = types.ModuleType(KVM_DRIVER_MODULE)
        module.KVMHostDriver = KVMHostDriver
        sys.modules[KVM_DRIVER_MODULE] = module
        self.addCleanup(sys.modules.pop, KVM_DRIVER_MODULE, None)
        super().setUp()

    def _setup_services(self):
        # The scheduler options exactly as the devstack plugin writes them
        # into a controller's nova.conf.
        workdir = self.useFixture(fixtures.TempDir()).path
        self.scheduler_conf = harness.scheduler_config(workdir)
        for (group, option), value in self.scheduler_conf.items():
            if option == 'enabled_filters':
                value = value.split(',')
            self.flags(**{option: value, 'group': group})
        super()._setup_services()

    def _setup_compute_service(self):
        # compute_driver is read when each service is created.
        self.flags(compute_driver='novadocker.DockerDriver')
        docker_compute = self._start_compute(self.host)
        self.flags(compute_driver='ndtest_kvm.KVMHostDriver')
        self._start_compute(self.kvm_host)
        self.flags(compute_driver='novadocker.DockerDriver')
        return docker_compute

    # -- helpers ------------------------------------------------------------

    def create_vm_image(self, disk_format='qcow2', **props):
        meta = {'name': 'vm-' + disk_format, 'container_format': 'bare',
                'disk_format': disk_format, 'status': 'active',
                'properties': props}
        return self.glance.create(nova_context.get_admin_context(), meta,
                                  data=io.BytesIO(b'not a docker archive'))[
                                      'id']

    def assert_on_kvm_host(self, server):
        self.assertEqual(self.kvm_host, server['OS-EXT-SRV-ATTR:host'])
        self.assert_no_container(server)
        # Nothing of the KVM host's reached the engine.
        self.assertEqual([], self.docker.containers.list(
            all=True, filters={'label': 'org.openstack.nova.compute-host=%s'
                               % self.kvm_host}))

    # -- tests --------------------------------------------------------------

    def test_scheduler_uses_the_plugins_filters(self):
        self.assertIn('ImagePropertiesFilter', self.scheduler_conf[
            ('filter_scheduler', 'enabled_filters')].split(','))
        self.assertEqual('True', self.scheduler_conf[
            ('scheduler', 'query_placement_for_image_type_support')])
        hypervisors = {
            h['hypervisor_hostname']: h['hypervisor_type'].lower()
            for h in self.api.api_get(
                '/os-hypervisors/detail').body['hypervisors']}
        self.assertEqual('docker', hypervisors[self.host])
        self.assertEqual('qemu', hypervisors[self.kvm_host])

    def test_images_land_on_the_host_that_runs_them(self):
        docker_image = self.create_docker_image(hypervisor_type='docker')
        qemu_image = self.create_vm_image('qcow2', hypervisor_type='qemu')
        plain_qcow2 = self.create_vm_image('qcow2')
        flavor = self.create_flavor()

        # Several of each, so that a coin toss would show.
        docker_servers = [self.boot(docker_image, flavor) for _ in range(2)]
        kvm_servers = [self.boot(qemu_image, flavor) for _ in range(2)]
        kvm_servers.append(self.boot(plain_qcow2, flavor))

        for server in docker_servers:
            self.assertEqual(self.host, server['OS-EXT-SRV-ATTR:host'])
            self.assertEqual('running', self.container_status(server))
        for server in kvm_servers:
            self.assert_on_kvm_host(server)

        # Each host's driver holds only its own.
        kvm_driver = self.computes[self.kvm_host].manager.driver
        self.assertEqual(sorted(s['id'] for s in kvm_servers),
                         sorted(kvm_driver.list_instance_uuids()))
        docker_driver = self.computes[self.host].manager.driver
        self.assertEqual(sorted(s['id'] for s in docker_servers),
                         sorted(docker_driver.list_instance_uuids()))

        for server in docker_servers:
            self._delete_server(server)
            self.assert_no_container(server)

    def test_no_fallback_to_the_wrong_hypervisor(self):
        # With the Docker host disabled a docker image has nowhere to go:
        # it does not end up on the KVM host.
        service = self.api.get_services(binary='nova-compute',
                                        host=self.host)[0]
        self.api.put_service(service['id'], {'status': 'disabled'})
        server = self.boot(self.create_docker_image(hypervisor_type='docker'),
                           expected_state='ERROR')
        self.assertIn('No valid host', server['fault']['message'])
        self.assertEqual([], self.computes[
            self.kvm_host].manager.driver.list_instance_uuids())
        self.api.put_service(service['id'], {'status': 'enabled'})

        # And with the KVM host disabled, a qcow2 image does not end up on
        # the Docker host.
        service = self.api.get_services(binary='nova-compute',
                                        host=self.kvm_host)[0]
        self.api.put_service(service['id'], {'status': 'disabled'})
        server = self.boot(self.create_vm_image('qcow2'),
                           expected_state='ERROR')
        self.assertIn('No valid host', server['fault']['message'])
        self.assert_no_container(server)

    def test_isolated_docker_hosts_keep_unmarked_raw_images_away(self):
        # A raw image with no hypervisor_type passes both ImagePropertiesFilter
        # and the image-type prefilter on the Docker host. Let the weighers
        # prefer the Docker host (the KVM stand-in is far bigger) to show it.
        for weigher in ('ram', 'disk', 'cpu'):
            self.flags(**{weigher + '_weight_multiplier': -1.0,
                          'group': 'filter_scheduler'})
        flavor = self.create_flavor()
        raw_vm = self.create_vm_image('raw')
        server = self.boot(raw_vm, flavor, expected_state='ERROR')
        self.assertIn('container_format', server['fault']['message'])

        # Isolating the Docker hosts in an aggregate that requires a trait
        # (the optional NOVA_DOCKER_ISOLATE_HOSTS of the devstack plugin)
        # keeps every image that does not ask for the trait off them.
        self.flags(enable_isolated_aggregate_filtering=True,
                   group='scheduler')
        aggregate = self._create_aggregate('docker-hosts')
        self.admin_api.add_host_to_aggregate(aggregate, self.host)
        self.admin_api.post_aggregate_action(aggregate, {'set_metadata': {
            'metadata': {'trait:%s' % DOCKER_TRAIT: 'required'}}})
        self.placement.put('/traits/%s' % DOCKER_TRAIT, None, version='1.6')
        provider = self._get_provider_uuid_by_host(self.host)
        self._set_provider_traits(
            provider, self._get_provider_traits(provider) + [DOCKER_TRAIT])
        # The compute keeps a trait it did not set itself.
        self._run_periodics()
        self.assertIn(DOCKER_TRAIT, self._get_provider_traits(provider))

        for _ in range(2):
            self.assert_on_kvm_host(self.boot(raw_vm, flavor))

        # Docker images ask for the trait; they need no hypervisor_type.
        docker_image = self.create_docker_image(
            **{'trait:%s' % DOCKER_TRAIT: 'required'})
        server = self.boot(docker_image, flavor)
        self.assertEqual(self.host, server['OS-EXT-SRV-ATTR:host'])
        self.assertEqual('running', self.container_status(server))
