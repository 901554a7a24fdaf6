"""The all-in-one's layout, settings and configs, and the shapes `up` makes
(APIs, Heat, network modes, a second compute host, Podman, install)."""

import io
import os
import subprocess
import sys
import tempfile
import unittest
from unittest import mock

from nova_docker.aio import bootstrap
from nova_docker.aio import cli
from nova_docker.aio import cloud
from nova_docker.aio import configs
from nova_docker.aio import dockerhost
from nova_docker.aio import kvm
from nova_docker.aio import layout as layout_mod
from nova_docker.aio import podman
from nova_docker.aio import progress
from nova_docker.aio import services
from nova_docker.aio import system
from nova_docker.aio import tempest
from nova_docker.aio import venv
from nova_docker.aio import wsgi


class TestLayout(unittest.TestCase):

    def setUp(self):
        self.dir = tempfile.mkdtemp()

    def test_ports_shift_and_settings_are_remembered(self):
        first = layout_mod.Layout(self.dir, port_offset=100)
        first.save_settings()
        again = layout_mod.Layout(self.dir)
        self.assertEqual(5100, again.ports['keystone'])
        self.assertEqual(first.secret('admin'), again.secret('admin'))
        self.assertEqual(first.compute_host, again.compute_host)
        self.assertEqual(0o600, os.stat(again.path('settings.json')).st_mode
                         & 0o777)

    def test_each_state_dir_has_its_own_compute_host(self):
        other = layout_mod.Layout(tempfile.mkdtemp())
        self.assertNotEqual(layout_mod.Layout(self.dir).compute_host,
                            other.compute_host)
        self.assertTrue(other.compute_host.startswith('nova-docker-aio-'))

    def test_database_is_reached_by_socket_only(self):
        url = layout_mod.Layout(self.dir).db_url('nova')
        self.assertIn('unix_socket=%s/mysql/mysqld.sock' % self.dir, url)
        self.assertIn('@localhost/nova?', url)

    def test_openrc_names_the_admin_and_keystone(self):
        rc = layout_mod.Layout(self.dir).openrc()
        self.assertIn('export OS_AUTH_URL=http://127.0.0.1:5000/v3\n', rc)
        self.assertIn('export OS_USERNAME=admin\n', rc)


class TestConfigs(unittest.TestCase):

    def test_render(self):
        text = configs.render({'DEFAULT': {'a': '1'}, 'x': {'b': ''}})
        self.assertEqual('[DEFAULT]\na = 1\n\n[x]\nb = \n', text)

    def test_nova_runs_the_docker_driver_with_a_stable_node(self):
        layout = layout_mod.Layout(tempfile.mkdtemp())
        nova = configs.nova(layout)
        self.assertEqual('novadocker.DockerDriver',
                         nova['DEFAULT']['compute_driver'])
        self.assertEqual(layout.path('nova'), nova['DEFAULT']['state_path'])
        self.assertEqual('True',
                         nova['service_user']['send_service_user_token'])

    def test_serial_consoles_through_the_proxy_it_runs(self):
        layout = layout_mod.Layout(tempfile.mkdtemp(), port_offset=100)
        serial = configs.nova(layout)['serial_console']
        self.assertEqual('True', serial['enabled'])
        self.assertEqual('6183', serial['serialproxy_port'])
        self.assertEqual('ws://127.0.0.1:6183/', serial['base_url'])
        self.assertIn(cloud.SERIAL_PROXY, cloud.services_of(layout))

    def test_compute_holds_no_database_credentials(self):
        layout = layout_mod.Layout(tempfile.mkdtemp())
        compute = configs.render(configs.nova_compute(layout))
        self.assertNotIn(layout.secret('db'), compute)
        self.assertIn('compute_driver = novadocker.DockerDriver', compute)


class TestApis(unittest.TestCase):

    def test_each_api_has_a_port_and_a_wsgi_factory(self):
        layout = layout_mod.Layout(tempfile.mkdtemp())
        for api in cloud.APIS:
            self.assertIn(api.port, layout.ports, api.name)
            self.assertTrue(callable(getattr(wsgi, api.factory)), api.name)
            self.assertIn(api.name, cloud.ALL)
        self.assertEqual('keystone', cloud.APIS[0].name)

    def test_each_api_is_one_worker_of_its_own_import(self):
        # A preloaded application forked into workers costs memory: the
        # workers' garbage collection copies the shared pages.
        layout = layout_mod.Layout(tempfile.mkdtemp())
        for api in cloud.APIS:
            argv = cloud.api_command(layout, api.name, '127.0.0.1:1')
            self.assertEqual('1', argv[argv.index('--workers') + 1], api.name)
            self.assertNotIn('--preload', argv, api.name)

    def test_tempest_config_names_the_images_it_is_given(self):
        layout = layout_mod.Layout(tempfile.mkdtemp())
        compute = tempest.config(layout, 'image-1', 'image-2')['compute']
        self.assertEqual('image-1', compute['image_ref'])
        self.assertEqual('image-2', compute['image_ref_alt'])
        self.assertEqual('private', compute['fixed_network_name'])


class TestHeat(unittest.TestCase):

    def layout(self, **kw):
        return layout_mod.Layout(tempfile.mkdtemp(), **kw)

    def test_on_by_default_and_no_heat_is_remembered(self):
        layout = self.layout()
        self.assertIn('heat-engine', cloud.services_of(layout))
        self.assertIn('heat', bootstrap.databases(layout))
        off = layout_mod.Layout(layout.root, heat=False)
        off.save_settings()
        again = layout_mod.Layout(layout.root)
        self.assertFalse(again.heat)
        self.assertNotIn('heat-api', cloud.services_of(again))
        self.assertNotIn('heat-engine', cloud.services_of(again))
        self.assertNotIn('heat', bootstrap.databases(again))

    def test_up_options(self):
        for argv, want in ((['up'], None), (['up', '--no-heat'], False),
                           (['up', '--heat'], True)):
            self.assertEqual(want, cli.parser().parse_args(argv).heat)

    def test_stacks_act_through_trusts_of_the_heat_user(self):
        layout = self.layout()
        heat = configs.heat(layout)
        self.assertEqual('trusts', heat['DEFAULT']['deferred_auth_method'])
        # A trustee is a user, never scoped to a project.
        self.assertEqual('heat', heat['trustee']['username'])
        self.assertNotIn('project_name', heat['trustee'])
        self.assertEqual(layout.db_url('heat'), heat['database'][
            'connection'])
        self.assertEqual('1', heat['DEFAULT']['num_engine_workers'])

    def test_next_steps_name_a_template_that_exists(self):
        layout = self.layout()
        steps = cli.next_steps(layout, layout.path('openrc'))
        line = [s for s in steps.splitlines() if 'stack create' in s][0]
        template = line.split(' -t ')[1].split()[0]
        self.assertTrue(os.path.isfile(template), template)
        bare = self.layout(network='none', heat=False)
        steps = cli.next_steps(bare, bare.path('openrc'))
        self.assertNotIn('stack create', steps)
        self.assertIn('--nic none', steps)


class TestNetworkModes(unittest.TestCase):

    def layout(self, **kw):
        return layout_mod.Layout(tempfile.mkdtemp(), **kw)

    def test_networked_by_default_and_the_choice_is_remembered(self):
        layout = self.layout()
        self.assertTrue(layout.networked)
        bare = layout_mod.Layout(layout.root, network='none')
        bare.save_settings()
        self.assertFalse(layout_mod.Layout(layout.root).networked)

    def test_ports_are_bound_by_ml2_ovs_on_vxlan(self):
        ml2 = configs.ml2(self.layout())
        self.assertEqual('openvswitch', ml2['ml2']['mechanism_drivers'])
        self.assertEqual('vxlan', ml2['ml2']['tenant_network_types'])
        self.assertIn('port_security', ml2['ml2']['extension_drivers'])

    def test_without_networking_nothing_binds_nor_notifies_nova(self):
        layout = self.layout(network='none')
        self.assertEqual('', configs.ml2(layout)['ml2']['mechanism_drivers'])
        neutron = configs.neutron(layout)['DEFAULT']
        self.assertEqual('False',
                         neutron['notify_nova_on_port_status_changes'])

    def test_neutron_tells_nova_when_a_port_is_wired(self):
        neutron = configs.neutron(self.layout())
        self.assertEqual('True', neutron['DEFAULT'][
            'notify_nova_on_port_status_changes'])
        self.assertEqual('neutron', neutron['nova']['username'])

    def test_agent_serves_the_compute_host_on_the_userspace_datapath(self):
        layout = self.layout(port_offset=10)
        agent = configs.openvswitch_agent(layout)
        self.assertEqual(layout.compute_host, agent['DEFAULT']['host'])
        self.assertEqual('netdev', agent['ovs']['datapath_type'])
        self.assertEqual('br-int', agent['ovs']['integration_bridge'])
        self.assertEqual('6643', agent['ovs']['of_listen_port'])
        self.assertEqual('openvswitch',
                         agent['securitygroup']['firewall_driver'])
        # Root already: no sudo anywhere.
        self.assertNotIn('sudo', configs.render(agent))

    def test_nova_starts_its_privsep_helpers_from_the_venv(self):
        layout = self.layout()
        nova = configs.nova(layout)
        compute_conf = configs.conf(layout, 'nova', 'nova-compute.conf')
        for section in ('nova_docker_privileged', 'nova_docker_fs_privileged',
                        'vif_plug_ovs_privileged'):
            self.assertEqual(
                '%s --config-file %s' % (layout.bin('privsep-helper'),
                                         compute_conf),
                nova[section]['helper_command'])
        self.assertEqual(configs.OVSDB,
                         nova['os_vif_ovs']['ovsdb_connection'])

    def test_services_give_large_freed_blocks_back(self):
        # A service's memory after a large response: 100 MiB of 512 KiB
        # blocks freed between small objects that stay. With glibc's
        # defaults (its mmap threshold raised by the 16 MiB block freed
        # first) they stay resident; as up runs the services, not.
        env = dict(os.environ, **{
            k: v for k, v in configs.service_env(self.layout()).items()
            if k.startswith('MALLOC_')})
        grown = subprocess.run(
            [sys.executable, '-c', _LARGE_BLOCKS_FREED], env=env, text=True,
            check=True, stdout=subprocess.PIPE, timeout=60).stdout
        self.assertLess(int(grown), 20, 'MiB still resident')


_LARGE_BLOCKS_FREED = """
def rss_mib():
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) // 1024
before = rss_mib()
big = bytes(16 << 20)
del big
blocks, kept = [], []
for i in range(200):
    blocks.append(b'x' * (512 << 10))
    kept.append(bytes(600))
del blocks
print(rss_mib() - before)
"""


class TestSecondComputeHost(unittest.TestCase):
    """up --computes 2: the second host's own names, switch and engine."""

    def setUp(self):
        self.layout = layout_mod.Layout(tempfile.mkdtemp(), computes=2)
        self.second = dockerhost.DockerHost(self.layout)

    def test_one_compute_host_by_default_and_two_are_remembered(self):
        self.assertEqual(1, layout_mod.Layout(tempfile.mkdtemp()).computes)
        self.layout.save_settings()
        self.assertEqual(2, layout_mod.Layout(self.layout.root).computes)
        self.assertEqual(self.layout.compute_host + '-2', self.second.name)

    def test_its_nova_compute_uses_its_engine_switch_and_state(self):
        nova = self.second.nova_config()
        host = self.second.host
        self.assertEqual(self.second.name, nova['DEFAULT']['host'])
        self.assertEqual('unix://' + self.second.docker_sock,
                         nova['docker']['api_url'])
        self.assertNotEqual(system.DOCKER_SOCK, self.second.docker_sock)
        self.assertEqual(host.ovsdb, nova['os_vif_ovs']['ovsdb_connection'])
        self.assertNotEqual(configs.OVSDB, host.ovsdb)
        self.assertTrue(nova['DEFAULT']['state_path'].startswith(host.root))
        self.assertTrue(nova['oslo_concurrency']['lock_path'].startswith(
            host.root))
        for section in ('nova_docker_privileged', 'vif_plug_ovs_privileged'):
            self.assertTrue(nova[section]['helper_command'].endswith(
                '--config-file ' + self.second.compute_conf))
        self.assertNotIn('database', nova)
        # New servers go to the first host (the only weigher is free
        # memory): this one reserves half the machine's.
        with open('/proc/meminfo') as f:
            total_mb = int(f.readline().split()[1]) // 1024
        self.assertEqual(total_mb // 2, int(
            nova['DEFAULT']['reserved_host_memory_mb']))

    def test_its_consoles_and_servers_outlive_its_restarts(self):
        nova = self.second.nova_config()
        # Its console endpoints (relayed to the machine's loopback) never
        # collide with the first host's (Nova's default range).
        first, last = (int(p) for p in
                       nova['serial_console']['port_range'].split(':'))
        self.assertGreater(first, 20000)
        self.assertEqual(dockerhost.SERIAL_PORTS, last - first + 1)
        self.assertNotIn('port_range', configs.nova_compute(
            self.layout)['serial_console'])
        # Servers Nova has running start again when it comes back.
        self.assertEqual(
            'True', nova['DEFAULT']['resume_guests_state_on_host_boot'])

    def test_its_agent_reports_for_it_with_its_own_tunnel_endpoint(self):
        agent = self.second.host.agent_config()
        first = configs.openvswitch_agent(self.layout)
        self.assertEqual(self.second.name, agent['DEFAULT']['host'])
        self.assertEqual(self.second.host.ovsdb,
                         agent['ovs']['ovsdb_connection'])
        self.assertNotEqual(first['ovs']['local_ip'],
                            agent['ovs']['local_ip'])
        # Both hosts' switches carry the physical network private is on.
        self.assertEqual(first['ovs']['bridge_mappings'],
                         agent['ovs']['bridge_mappings'])
        self.assertEqual('aio:br-aio-phys', agent['ovs']['bridge_mappings'])
        self.assertEqual('aio',
                         configs.ml2(self.layout)['ml2_type_flat'][
                             'flat_networks'])

    def test_its_devices_have_names_the_kernel_takes(self):
        host = self.second.host
        for dev in (host.root_dev, host.ns_dev):
            self.assertLessEqual(len(dev), 15)
        self.assertEqual(self.second.name, host.netns)

    def test_new_servers_are_weighed_by_free_memory_only(self):
        self.assertEqual('nova.scheduler.weights.ram.RAMWeigher',
                         configs.nova(self.layout)['filter_scheduler'][
                             'weight_classes'])
        one = layout_mod.Layout(tempfile.mkdtemp())
        self.assertNotIn('weight_classes',
                         configs.nova(one)['filter_scheduler'])

    def test_tempest_runs_the_multinode_migration_tests_with_two(self):
        cls = 'tempest.api.compute.admin.test_migrations.MigrationsAdminTest'
        regex = tempest.default_regex(self.layout)
        for test in ('test_cold_migration', 'test_revert_cold_migration'):
            self.assertRegex('%s.%s[id-1]' % (cls, test), regex)
        self.assertRegex('tempest.api.compute.servers.test_x.T.test_y',
                         regex)
        self.assertNotRegex(cls + '.test_live_block_migration', regex)
        one = layout_mod.Layout(tempfile.mkdtemp())
        self.assertEqual(tempest.DEFAULT_REGEX, tempest.default_regex(one))

    def test_up_option(self):
        args = cli.parser().parse_args(['up', '--computes', '2'])
        self.assertEqual(2, args.computes)


class TestInstall(unittest.TestCase):
    """install: what up would install for the shape asked, nothing
    started (the test command runs it beside its first suites)."""

    def test_installs_for_the_shape_remembers_it_and_starts_nothing(self):
        root = tempfile.mkdtemp()
        installed = []
        with mock.patch.object(system, 'install_packages',
                               lambda names, log: installed.extend(names)), \
                mock.patch.object(system, 'missing_packages',
                                  return_value=['mariadb-server']), \
                mock.patch.object(kvm, 'missing_packages',
                                  return_value=['qemu-system-x86']), \
                mock.patch.object(venv, 'ensure_services') as services_venv, \
                mock.patch.object(venv, 'ensure_project'), \
                mock.patch.object(tempest,
                                  'ensure_installed') as tempest_venv, \
                mock.patch.object(cli, 'Progress',
                                  lambda: progress.Progress(io.StringIO())):
            self.assertEqual(0, cli.main(['--state-dir', root, 'install',
                                          '--computes', '2', '--kvm']))
        self.assertEqual(['mariadb-server', 'qemu-system-x86'], installed)
        self.assertTrue(services_venv.called and tempest_venv.called)
        again = layout_mod.Layout(root)
        self.assertEqual((2, True), (again.computes, again.kvm))
        self.assertEqual([], os.listdir(again.run))


class TestPodmanEngine(unittest.TestCase):
    """up --engine podman: the first host's nova-compute drives a Podman
    service whose state is all under the all-in-one's."""

    def test_docker_by_default_and_podman_is_remembered(self):
        layout = layout_mod.Layout(tempfile.mkdtemp())
        self.assertEqual('docker', layout.engine)
        self.assertEqual('unix://' + system.DOCKER_SOCK,
                         configs.nova(layout)['docker']['api_url'])
        layout_mod.Layout(layout.root, engine='podman').save_settings()
        self.assertEqual('podman', layout_mod.Layout(layout.root).engine)
        args = cli.parser().parse_args(['up', '--engine', 'podman'])
        self.assertEqual('podman', args.engine)

    def test_nova_compute_uses_its_own_socket_and_storage(self):
        layout = layout_mod.Layout(tempfile.mkdtemp(), engine='podman')
        url = configs.nova_compute(layout)['docker']['api_url']
        self.assertEqual('unix://' + podman.socket_path(layout), url)
        self.assertTrue(url.startswith('unix://' + layout.root + '/'))
        conf = podman.containers_conf(layout)
        for key in ('events_logfile_path', 'tmp_dir', 'network_config_dir'):
            line = [x for x in conf.splitlines() if x.startswith(key)][0]
            self.assertIn('"%s/' % layout.root, line)
        self.assertIn('cgroup_manager = "cgroupfs"', conf)
        self.assertIn('conmon_path = ["%s"]' % podman.conmon_path(layout),
                      conf)
        # The second host keeps its own Docker engine.
        two = layout_mod.Layout(tempfile.mkdtemp(), engine='podman',
                                computes=2)
        second = dockerhost.DockerHost(two)
        self.assertEqual('unix://' + second.docker_sock,
                         second.nova_config()['docker']['api_url'])

    def test_switching_a_running_compute_host_needs_down_first(self):
        root = tempfile.mkdtemp()
        docker = layout_mod.Layout(root)
        docker.ensure_dirs()
        configs.write(configs.conf(docker, 'nova', configs.NOVA_COMPUTE_CONF),
                      configs.nova_compute(docker))
        on_podman = layout_mod.Layout(root, engine='podman')
        cli.Bringup(on_podman, None).refuse_engine_switch_while_running()
        services.start(docker, 'nova-compute',
                       [sys.executable, '-c', 'import time; time.sleep(60)'])
        self.addCleanup(services.stop, docker, ['nova-compute'])
        cli.Bringup(docker, None).refuse_engine_switch_while_running()
        with self.assertRaises(progress.Failed) as caught:
            cli.Bringup(on_podman, None).refuse_engine_switch_while_running()
        self.assertIn('"down" first', caught.exception.what)

    def test_conmon_starts_in_the_bundle_directory(self):
        # Where Podman 4.3 looks for conmon's OOM marker: a stand-in for
        # conmon says where it was started and with what.
        tmp = tempfile.mkdtemp()
        real = os.path.join(tmp, 'real conmon')
        with open(real, 'w') as f:
            f.write('#!/bin/sh\npwd\necho "$@"\n')
        wrapper = os.path.join(tmp, 'conmon')
        with open(wrapper, 'w') as f:
            f.write(podman.conmon_wrapper(real))
        os.chmod(real, 0o755)
        os.chmod(wrapper, 0o755)
        bundle = os.path.join(tmp, 'bundle dir')
        os.mkdir(bundle)
        for argv in (['--api-version', '1', '-b', bundle, '-c', 'id'],
                     ['--bundle=' + bundle, '-c', 'id']):
            output = subprocess.check_output([wrapper] + argv, cwd='/')
            self.assertEqual([bundle, ' '.join(argv)],
                             output.decode().splitlines())
        # No bundle (conmon --version): where it was started.
        self.assertEqual(['/', '--version'], subprocess.check_output(
            [wrapper, '--version'], cwd='/').decode().splitlines())

    def test_status_and_down_of_a_service_that_never_started(self):
        layout = layout_mod.Layout(tempfile.mkdtemp(), engine='podman')
        layout.ensure_dirs()
        self.assertEqual({'podman': [None, False, podman.engine_url(
            layout)]}, podman.health(layout))
        self.assertEqual({}, podman.stop(layout))
