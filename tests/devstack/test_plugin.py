"""devstack/plugin.sh, phase by phase, against stand-ins for devstack's
functions (tests/devstack/stubs.sh): what it installs, the config files it
leaves, the image it uploads and the containers it removes."""

import json
import os

import fixtures
import testtools

from nova_docker import tempest_features
from tests.devstack import harness

HOST = 'devstack-host'
OURS = {'org.openstack.nova.compute-host': HOST,
        'org.openstack.nova.instance-uuid': 'u1'}
INFRA = {'org.openstack.nova.compute-host': HOST,
         'org.openstack.nova.infra-for': 'u1'}


class PluginTestCase(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.workdir = self.useFixture(fixtures.TempDir()).path

    def host(self, **kw):
        return harness.Devstack(self.workdir, hostname=HOST, **kw)

    def filters(self, host):
        conf = host.read_ini(host.nova_conf)
        return conf.get('filter_scheduler', 'enabled_filters').split(',')


class StackDockerHostTest(PluginTestCase):
    """An all-in-one with VIRT_DRIVER=docker."""

    def setUp(self):
        super().setUp()
        self.devstack = self.host()
        self.devstack.stack()

    def test_settings_define_the_plugin(self):
        self.assertIn(['define_plugin', 'nova-docker'],
                      self.devstack.calls('define_plugin'))

    def test_install_engine_from_distribution_packages(self):
        packages = [p for c in self.devstack.calls('install_package')
                    for p in c[1:]]
        self.assertIn('docker.io', packages)
        self.assertIn('busybox-static', packages)
        self.assertIn('catatonit', packages)
        self.assertIn(['add_user_to_group', 'stack', 'docker'],
                      self.devstack.calls('add_user_to_group'))
        # No installer fetched from the network.
        for call in self.devstack.calls():
            self.assertNotIn('curl', call)
            self.assertNotIn('wget', call)

    def test_install_project_not_editable_without_replacing_nova(self):
        pips = self.devstack.calls('pip_install')
        self.assertIn(['pip_install', '--no-deps', harness.ROOT], pips)
        for call in pips:
            self.assertNotIn('-e', call)
            self.assertNotIn('--editable', call)
            for arg in call[1:]:
                self.assertFalse(arg.startswith('nova>') or arg == 'nova',
                                 call)
        deps = [arg for call in pips for arg in call[1:]]
        self.assertTrue(any(d.startswith('docker>=') for d in deps), deps)

    def test_install_puts_shim_into_editable_nova(self):
        shim = os.path.join(self.devstack.nova_virt_dir, 'novadocker',
                            '__init__.py')
        with open(shim) as f:
            self.assertIn('from nova_docker.driver import DockerDriver',
                          f.read())

    def test_nova_cpu_conf_runs_the_driver(self):
        conf = self.devstack.read_ini(self.devstack.nova_cpu_conf)
        self.assertEqual('novadocker.DockerDriver',
                         conf.get('DEFAULT', 'compute_driver'))
        self.assertEqual('unix:///var/run/docker.sock',
                         conf.get('docker', 'api_url'))

    def test_nova_conf_of_docker_host_carries_the_driver_too(self):
        # devstack derives nova-cpu.conf from nova.conf.
        conf = self.devstack.read_ini(self.devstack.nova_conf)
        self.assertEqual('novadocker.DockerDriver',
                         conf.get('DEFAULT', 'compute_driver'))
        self.assertEqual('unix:///var/run/docker.sock',
                         conf.get('docker', 'api_url'))

    def test_docker_options_from_settings(self):
        devstack = harness.Devstack(
            os.path.join(self.workdir, 'opts'), hostname=HOST, env={
                'NOVA_DOCKER_API_URL': 'tcp://10.0.0.5:2376',
                'NOVA_DOCKER_PIDS_LIMIT': '512'})
        devstack.run('stack', 'post-config')
        conf = devstack.read_ini(devstack.nova_cpu_conf)
        self.assertEqual('tcp://10.0.0.5:2376', conf.get('docker', 'api_url'))
        self.assertEqual('512', conf.get('docker', 'pids_limit'))
        self.assertFalse(conf.has_option('docker', 'log_max_size'))

    def test_scheduler_filters(self):
        filters = self.filters(self.devstack)
        self.assertIn('ImagePropertiesFilter', filters)
        # devstack's own filters are kept, in order, nothing doubled.
        self.assertEqual(harness.DEVSTACK_FILTERS.split(','), filters[:-1])
        self.assertEqual(len(filters), len(set(filters)))
        conf = self.devstack.read_ini(self.devstack.nova_conf)
        self.assertEqual('True', conf.get(
            'scheduler', 'query_placement_for_image_type_support'))

    def test_glance_container_formats(self):
        conf = self.devstack.read_ini(self.devstack.glance_api_conf)
        formats = conf.get('image_format', 'container_formats').split(',')
        self.assertIn('docker', formats)
        self.assertIn('bare', formats)

    def test_default_image_built_locally_and_uploaded(self):
        state = self.devstack.docker_state_now()
        imported = state['imported']
        self.assertEqual(1, len(imported))
        self.assertEqual('nova-docker/busybox:latest', imported[0]['ref'])
        self.assertGreater(imported[0]['bytes'], 0)
        self.assertTrue(any(c.startswith('CMD ')
                            for c in imported[0]['changes']))
        create = [c for c in self.devstack.calls('openstack')
                  if c[1:3] == ['image', 'create']]
        self.assertEqual(1, len(create))
        args = create[0]
        for option, value in (('--container-format', 'docker'),
                              ('--disk-format', 'raw'),
                              ('--property', 'hypervisor_type=docker')):
            self.assertEqual(value, args[args.index(option) + 1])
        self.assertEqual('busybox-docker', args[-1])
        with open(self.devstack.openstack_state + '.busybox-docker') as f:
            self.assertIn('archive of nova-docker/busybox:latest', f.read())
        # Never from a registry.
        for call in self.devstack.calls('docker'):
            self.assertNotIn(call[1], ('pull', 'login'))

    def test_extra_again_does_not_upload_twice(self):
        self.devstack.run('stack', 'extra')
        self.assertEqual(['busybox-docker'], self.devstack.glance_images())

    def test_post_config_again_changes_nothing(self):
        before = {p: open(p).read() for p in (
            self.devstack.nova_conf, self.devstack.nova_cpu_conf,
            self.devstack.glance_api_conf)}
        self.devstack.run('stack', 'post-config')
        for path, text in before.items():
            with open(path) as f:
                self.assertEqual(text, f.read(), path)

    def test_tempest_boots_the_docker_image(self):
        conf = self.devstack.read_ini(self.devstack.tempest_conf)
        self.assertEqual('id-of-busybox-docker',
                         conf.get('compute', 'image_ref'))
        self.assertEqual('docker', conf.get('compute', 'hypervisor_type'))
        features = dict(conf['compute-feature-enabled'])
        # The all-in-one's tempest runs on the same list.
        self.assertEqual(tempest_features.compute_features(False), features)
        self.assertEqual('False', features['suspend'])
        for feature in ('console_output', 'snapshot', 'shelve', 'pause',
                        'resize', 'cold_migration'):
            self.assertEqual('True', features[feature])
        # No Neutron on this host: servers have no ports to attach.
        self.assertEqual('False', features['interface_attach'])

    def test_tempest_attaches_ports_where_neutron_runs(self):
        devstack = harness.Devstack(
            os.path.join(self.workdir, 'neutron'), hostname=HOST,
            services='n-api,n-cond,n-sch,n-cpu,g-api,placement-api,q-svc,'
                     'q-agt,tempest')
        devstack.stack()
        features = devstack.read_ini(devstack.tempest_conf)[
            'compute-feature-enabled']
        self.assertEqual('True', features['interface_attach'])


class MixedCloudHostsTest(PluginTestCase):

    def test_kvm_host_keeps_its_driver_and_gets_no_engine(self):
        devstack = self.host(virt_driver='libvirt')
        devstack.stack()
        conf = devstack.read_ini(devstack.nova_cpu_conf)
        self.assertEqual('libvirt.LibvirtDriver',
                         conf.get('DEFAULT', 'compute_driver'))
        self.assertFalse(conf.has_section('docker'))
        self.assertEqual([], devstack.calls('install_package'))
        self.assertEqual([], devstack.calls('pip_install'))
        self.assertEqual([], devstack.calls('docker'))
        self.assertEqual([], devstack.glance_images())
        # The controller side still sorts images between the hosts.
        self.assertIn('ImagePropertiesFilter', self.filters(devstack))

    def test_compute_only_host_leaves_scheduler_and_glance_alone(self):
        devstack = self.host(services='n-cpu,placement-client')
        devstack.stack()
        conf = devstack.read_ini(devstack.nova_cpu_conf)
        self.assertEqual('novadocker.DockerDriver',
                         conf.get('DEFAULT', 'compute_driver'))
        self.assertEqual(harness.DEVSTACK_FILTERS.split(','),
                         self.filters(devstack))
        self.assertFalse(devstack.read_ini(devstack.nova_conf).has_option(
            'scheduler', 'query_placement_for_image_type_support'))
        self.assertFalse(os.path.exists(devstack.glance_api_conf))

    def test_filters_already_there_are_not_doubled(self):
        devstack = self.host()
        devstack.write_ini(devstack.nova_conf, {'filter_scheduler': {
            'enabled_filters': 'ComputeFilter, ImagePropertiesFilter'}})
        devstack.run('stack', 'post-config')
        self.assertEqual(['ComputeFilter', 'ImagePropertiesFilter'],
                         self.filters(devstack))

    def test_empty_filters_get_novas_defaults(self):
        devstack = self.host()
        devstack.write_ini(devstack.nova_conf, {})
        devstack.run('stack', 'post-config')
        self.assertEqual(['ComputeFilter', 'ComputeCapabilitiesFilter',
                          'ImagePropertiesFilter',
                          'ServerGroupAntiAffinityFilter',
                          'ServerGroupAffinityFilter'],
                         self.filters(devstack))

    def test_operator_container_formats_get_docker_added(self):
        devstack = self.host()
        devstack.write_ini(devstack.glance_api_conf, {
            'image_format': {'container_formats': 'bare,ovf'}})
        devstack.run('stack', 'post-config')
        conf = devstack.read_ini(devstack.glance_api_conf)
        self.assertEqual('bare,ovf,docker',
                         conf.get('image_format', 'container_formats'))

    def test_prefilter_can_be_turned_off(self):
        devstack = self.host(env={
            'NOVA_DOCKER_IMAGE_TYPE_PREFILTER': 'False'})
        devstack.run('stack', 'post-config')
        conf = devstack.read_ini(devstack.nova_conf)
        self.assertFalse(conf.has_option(
            'scheduler', 'query_placement_for_image_type_support'))

    def test_python_of_devstacks_global_venv(self):
        venv = os.path.join(self.workdir, 'venv')
        os.makedirs(os.path.join(venv, 'bin'))
        python = os.path.join(venv, 'bin', 'python3')
        with open(python, 'w') as f:
            f.write('#!/bin/sh\necho "$@" >> %s.calls\nexit 0\n' % python)
        os.chmod(python, 0o755)
        devstack = self.host(env={'GLOBAL_VENV': 'True',
                                  'DEVSTACK_VENV': venv})
        devstack.run('stack', 'install')
        with open(python + '.calls') as f:
            self.assertIn('import nova.virt.novadocker', f.read())
        self.assertEqual([], devstack.calls('python'))

    def test_shim_left_alone_when_nova_finds_it(self):
        devstack = self.host(env={'STUB_NOVA_SHIM_INSTALLED': '1'})
        devstack.run('stack', 'install')
        self.assertFalse(os.path.exists(os.path.join(
            devstack.nova_virt_dir, 'novadocker')))

    def test_engine_that_never_answers_stops_stack(self):
        devstack = self.host(env={'NOVA_DOCKER_ENGINE_TIMEOUT': '3'})
        devstack.set_docker_state(running=False, containers=[], images=[])
        error = self.assertRaises(harness.PhaseFailed, devstack.run,
                                  'stack', 'install')
        self.assertIn('does not answer', str(error))
        self.assertIn(['start_service', 'docker'],
                      devstack.calls('start_service'))
        # Configured before it started: live-restore on.
        with open(devstack.env['NOVA_DOCKER_ENGINE_CONFIG']) as f:
            self.assertEqual({'live-restore': True}, json.load(f))


class IsolationTest(PluginTestCase):

    def openstack(self, devstack, *words):
        return [c for c in devstack.calls('openstack')
                if [w for w in c[1:] if not w.startswith('--os-placement')
                    and w != '1.6'][:len(words)] == list(words)]

    def test_off_by_default(self):
        devstack = self.host()
        devstack.stack()
        conf = devstack.read_ini(devstack.nova_conf)
        self.assertFalse(conf.has_option(
            'scheduler', 'enable_isolated_aggregate_filtering'))
        self.assertEqual([], self.openstack(devstack, 'aggregate'))
        create = self.openstack(devstack, 'image', 'create')[0]
        self.assertNotIn('trait:CUSTOM_NOVA_DOCKER=required', create)
        self.assertNotIn(['pip_install', 'osc-placement'],
                         devstack.calls('pip_install'))

    def test_all_in_one(self):
        devstack = self.host(env={'NOVA_DOCKER_ISOLATE_HOSTS': 'True'})
        devstack.stack()
        self.assertIn(['pip_install', 'osc-placement'],
                      devstack.calls('pip_install'))
        conf = devstack.read_ini(devstack.nova_conf)
        self.assertEqual('True', conf.get(
            'scheduler', 'enable_isolated_aggregate_filtering'))
        create = self.openstack(devstack, 'image', 'create')[0]
        self.assertEqual('trait:CUSTOM_NOVA_DOCKER=required',
                         create[create.index('hypervisor_type=docker') + 2])
        aggregate = self.openstack(devstack, 'aggregate', 'create')
        self.assertEqual(1, len(aggregate))
        self.assertIn('trait:CUSTOM_NOVA_DOCKER=required', aggregate[0])
        self.assertEqual('docker-hosts', aggregate[0][-1])
        self.assertEqual(
            [['openstack', 'aggregate', 'add', 'host', 'docker-hosts', HOST]],
            self.openstack(devstack, 'aggregate', 'add'))
        trait_set = self.openstack(devstack, 'resource', 'provider', 'trait',
                                   'set')
        self.assertEqual(1, len(trait_set))
        args = trait_set[0]
        traits = [args[i + 1] for i, a in enumerate(args) if a == '--trait']
        self.assertEqual(['COMPUTE_NODE', 'COMPUTE_IMAGE_TYPE_RAW',
                          'CUSTOM_NOVA_DOCKER'], traits)
        self.assertEqual('rp-of-%s' % HOST, args[-1])

    def test_second_run_reuses_the_aggregate(self):
        devstack = self.host(env={'NOVA_DOCKER_ISOLATE_HOSTS': 'True'})
        devstack.stack()
        devstack.run('stack', 'test-config')
        self.assertEqual(1, len(self.openstack(devstack, 'aggregate',
                                               'create')))

    def test_compute_only_host_says_what_to_run(self):
        devstack = self.host(services='n-cpu,placement-client',
                             env={'NOVA_DOCKER_ISOLATE_HOSTS': 'True'})
        devstack.stack()
        self.assertEqual([], self.openstack(devstack, 'aggregate'))
        summaries = ' '.join(c[1] for c in devstack.calls('echo_summary'))
        self.assertIn('openstack aggregate add host docker-hosts %s' % HOST,
                      summaries)
        # What a separate controller may not have yet: the printed
        # commands make them too.
        self.assertIn('openstack aggregate create --property '
                      'trait:CUSTOM_NOVA_DOCKER=required docker-hosts',
                      summaries)
        self.assertIn('trait create CUSTOM_NOVA_DOCKER', summaries)

    def test_separate_controller_creates_aggregate_and_trait(self):
        devstack = harness.Devstack(
            self.workdir, virt_driver='libvirt', hostname='controller',
            services='n-api,n-cond,n-sch,g-api,placement-api',
            env={'NOVA_DOCKER_ISOLATE_HOSTS': 'True'})
        devstack.stack()
        self.assertIn(['pip_install', 'osc-placement'],
                      devstack.calls('pip_install'))
        conf = devstack.read_ini(devstack.nova_conf)
        self.assertEqual('True', conf.get(
            'scheduler', 'enable_isolated_aggregate_filtering'))
        aggregate = self.openstack(devstack, 'aggregate', 'create')
        self.assertEqual(1, len(aggregate))
        self.assertIn('trait:CUSTOM_NOVA_DOCKER=required', aggregate[0])
        self.assertEqual(1, len(self.openstack(devstack, 'trait', 'create')))
        # No Docker host here: nothing joins the aggregate.
        self.assertEqual([], self.openstack(devstack, 'aggregate', 'add'))
        self.assertEqual([], devstack.calls('docker'))


class UnstackCleanTest(PluginTestCase):

    def setUp(self):
        super().setUp()
        self.devstack = self.host()
        self.devstack.stack()
        self.devstack.set_docker_state(
            containers=[
                {'id': 'c-ours', 'name': 'nova-u1', 'labels': OURS},
                {'id': 'c-ours-stopped', 'name': 'nova-u2',
                 'labels': dict(OURS, **{
                     'org.openstack.nova.instance-uuid': 'u2'})},
                # Another compute host sharing the engine.
                {'id': 'c-other-host', 'name': 'nova-u3', 'labels': dict(
                    OURS, **{'org.openstack.nova.compute-host': 'other',
                             'org.openstack.nova.instance-uuid': 'u3'})},
                # Infra containers own servers' namespaces: no
                # instance-uuid label (listings of instances skip them).
                {'id': 'c-ours-infra', 'name': 'nova-u1-infra',
                 'labels': INFRA},
                {'id': 'c-other-infra', 'name': 'nova-u3-infra',
                 'labels': dict(INFRA, **{
                     'org.openstack.nova.compute-host': 'other'})},
                # Not this driver's, though labelled like it.
                {'id': 'c-lookalike', 'name': 'my-app', 'labels': OURS},
                {'id': 'c-unrelated', 'name': 'nova-db', 'labels': {}},
            ],
            images=['nova-glance/abc:123', 'nova-snapshot/def:latest',
                    'nova-docker/busybox:latest', 'debian:12',
                    'nova-glance-other:1', 'nova-docker/infra:0123abcd'])

    def remaining(self):
        return sorted(c['id'] for c in
                      self.devstack.docker_state_now()['containers'])

    def test_unstack_removes_only_this_drivers_containers_here(self):
        self.devstack.run('unstack')
        self.assertEqual(['c-lookalike', 'c-other-host', 'c-other-infra',
                          'c-unrelated'], self.remaining())
        self.assertEqual(6, len(self.devstack.docker_state_now()['images']))
        rm = [c for c in self.devstack.calls('docker') if c[1] == 'rm']
        self.assertEqual(1, len(rm))
        self.assertEqual(['c-ours', 'c-ours-infra', 'c-ours-stopped'],
                         sorted(rm[0][4:]))

    def test_unstack_uses_configured_host_name(self):
        self.devstack.write_ini(self.devstack.nova_cpu_conf,
                                {'DEFAULT': {'host': 'other'}})
        self.devstack.run('unstack')
        self.assertEqual(['c-lookalike', 'c-ours', 'c-ours-infra',
                          'c-ours-stopped', 'c-unrelated'], self.remaining())

    def test_unstack_twice_is_harmless(self):
        self.devstack.run('unstack')
        self.devstack.run('unstack')
        self.assertEqual(['c-lookalike', 'c-other-host', 'c-other-infra',
                          'c-unrelated'], self.remaining())

    def test_unstack_without_engine(self):
        self.devstack.set_docker_state(running=False, containers=[],
                                       images=[])
        self.devstack.run('unstack')

    def test_clean_removes_containers_images_and_shim(self):
        self.devstack.run('clean')
        self.assertEqual(['c-lookalike', 'c-other-host', 'c-other-infra',
                          'c-unrelated'], self.remaining())
        self.assertEqual(['debian:12', 'nova-glance-other:1'],
                         sorted(self.devstack.docker_state_now()['images']))
        self.assertFalse(os.path.exists(os.path.join(
            self.devstack.nova_virt_dir, 'novadocker')))

    def test_unstack_on_kvm_host_touches_no_engine(self):
        devstack = harness.Devstack(
            os.path.join(self.workdir, 'kvm'), virt_driver='libvirt',
            hostname=HOST)
        devstack.run('unstack')
        devstack.run('clean')
        self.assertEqual([], devstack.calls('docker'))
