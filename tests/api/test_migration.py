"""Resize and cold migration through Nova's API: on one host, and between
two hosts that each have their own engine (files moved through Glance)."""

import time

from nova.tests.functional.api import client

from nova_docker import configdrive
from nova_docker import naming
from nova_docker import netplan
from nova_docker import transfer
from tests.api import base
from tests.api import test_network
from tests import support

MIB = 1024 * 1024


class MoveAssertions(object):

    def write_file(self, server, path, client=None):
        code, output = support.run_in(client or self.docker, server['id'],
                                      'sh', '-c', 'echo kept > %s' % path)
        self.assertEqual(0, code, output)

    def files(self, server, client=None):
        return support.run_in(client or self.docker, server['id'],
                              'ls', '/')[1].split()

    def memory_mb(self, server, client=None):
        container = (client or self.docker).api.inspect_container(
            naming.container_name(server['id']))
        return container['HostConfig']['Memory'] // MIB

    def migration_tags(self, server, client=None):
        return support.tags(client or self.docker,
                            naming.MIGRATION_REPOSITORY + server['id'])

    def assert_original_gone(self, server, client=None):
        self.assertEqual([], (client or self.docker).containers.list(
            all=True, filters={'name': naming.resized_from_name(
                server['id'])}))

    def moving_images(self):
        return [image for image in self.glance.images.values()
                if transfer.MOVING_PROPERTY in image.get('properties', {})]

    def action(self, server, body, expected_state):
        self.api.post_server_action(server['id'], body)
        return self._wait_for_state_change(server, expected_state)


class SameHostResizeTest(base.DockerAPITestCase, MoveAssertions):

    def setUp(self):
        super().setUp()
        self.flags(allow_resize_to_same_host=True)
        self.image_id = self.create_docker_image()
        server = self._build_server(image_uuid=self.image_id,
                                    flavor_id=self.create_flavor(64),
                                    networks='none')
        server['config_drive'] = True
        self.server = self._wait_for_state_change(
            self.api.post_server({'server': server}), 'ACTIVE')
        self.write_file(self.server, '/before-resize')
        self.bigger = self.create_flavor(96)

    def test_resize_then_confirm(self):
        server = self.action(self.server,
                             {'resize': {'flavorRef': self.bigger}},
                             'VERIFY_RESIZE')
        self.assertEqual('running', self.container_status(server))
        self.assertEqual(96, self.memory_mb(server))
        self.assertIn('before-resize', self.files(server))
        self.assertIn(server['id'], self.exec_in(
            server, 'cat', configdrive.MOUNT_PATH +
            '/openstack/latest/meta_data.json'))

        server = self.action(server, {'confirmResize': None}, 'ACTIVE')
        self._wait_for_migration_status(server, ['confirmed'])
        self.assert_original_gone(server)
        self.assertEqual(96, self.memory_mb(server))

        self._delete_server(server)
        self.assert_no_container(server)
        self.assertEqual([], self.migration_tags(server))

    def test_resize_then_revert(self):
        server = self.action(self.server,
                             {'resize': {'flavorRef': self.bigger}},
                             'VERIFY_RESIZE')
        self.write_file(server, '/after-resize')

        server = self.action(server, {'revertResize': None}, 'ACTIVE')
        self._wait_for_migration_status(server, ['reverted'])
        self.assertEqual('running', self.container_status(server))
        self.assertEqual(64, self.memory_mb(server))
        files = self.files(server)
        self.assertIn('before-resize', files)
        self.assertNotIn('after-resize', files)
        self.assert_original_gone(server)
        self.assertEqual([], self.migration_tags(server))

    def test_stopped_server_stays_stopped(self):
        server = self.action(self.server, {'os-stop': None}, 'SHUTOFF')
        server = self.action(server, {'resize': {'flavorRef': self.bigger}},
                             'VERIFY_RESIZE')
        self.assertIn(self.container_status(server), ('created', 'exited'))
        server = self.action(server, {'confirmResize': None}, 'SHUTOFF')
        self.assertEqual(96, self.memory_mb(server))


class MoveBetweenHostsTest(base.TwoEnginesTestCase, MoveAssertions):

    def setUp(self):
        super().setUp()
        self.image_id = self.create_docker_image()
        server = self._build_server(
            image_uuid=self.image_id, flavor_id=self.create_flavor(64),
            networks='none', host=self.host)
        self.server = self._wait_for_state_change(
            self.api.post_server({'server': server}), 'ACTIVE')
        self.write_file(self.server, '/before-move')

    def test_cold_migrate_then_confirm(self):
        server = self.action(self.server, {'migrate': {'host': self.host2}},
                             'VERIFY_RESIZE')
        self.assertEqual(self.host2, server['OS-EXT-SRV-ATTR:host'])
        self.assertEqual('running',
                         self.container_status_on(server, self.second_docker))
        self.assertIn('before-move', self.files(server, self.second_docker))
        self.assertEqual([], self.moving_images())

        server = self.action(server, {'confirmResize': None}, 'ACTIVE')
        self._wait_for_migration_status(server, ['confirmed'])
        self.assert_no_container(server)    # nothing left on the source
        self.assertEqual([], self.migration_tags(server))

        self._delete_server(server)
        self.assertEqual([], self.migration_tags(server, self.second_docker))

    def test_resize_to_the_other_host_then_revert(self):
        server = self.action(self.server,
                             {'resize': {'flavorRef': self.create_flavor(96)}},
                             'VERIFY_RESIZE')
        self.assertEqual(self.host2, server['OS-EXT-SRV-ATTR:host'])
        self.assertEqual(96, self.memory_mb(server, self.second_docker))

        server = self.action(server, {'revertResize': None}, 'ACTIVE')
        self._wait_for_migration_status(server, ['reverted'])
        self.assertEqual(self.host, server['OS-EXT-SRV-ATTR:host'])
        self.assertEqual('running', self.container_status(server))
        self.assertEqual(64, self.memory_mb(server))
        self.assertIn('before-move', self.files(server))
        self.assertEqual([], self.second_docker.containers.list(
            all=True, filters={'name': naming.container_name(server['id'])}))
        self.assertEqual([], self.migration_tags(server))
        self.assertEqual([], self.migration_tags(server, self.second_docker))

    def test_live_migration_is_refused_and_the_server_keeps_running(self):
        # Before 2.34 the API waits for the checks: the reason is the 400.
        self.api.microversion = '2.30'
        error = self.assertRaises(
            client.OpenStackApiException, self.api.post_server_action,
            self.server['id'],
            {'os-migrateLive': {'host': self.host2, 'force': False,
                                'block_migration': 'auto'}})
        self.assertEqual(400, error.response.status_code)
        self.assertIn('cold migration', error.response.text)
        self._wait_for_migration_status(self.server, ['error'])
        server = self._wait_for_state_change(self.server, 'ACTIVE')
        self.assertEqual(self.host, server['OS-EXT-SRV-ATTR:host'])
        self.assertEqual('running', self.container_status(server))

    def container_status_on(self, server, client):
        return client.api.inspect_container(
            naming.container_name(server['id']))['State']['Status']


class MigrateWithPortsTest(test_network.NetworkTestBase,
                           base.TwoEnginesTestCase):

    def test_ports_follow_the_server_to_the_other_host(self):
        port_a, a4, a6 = self.make_port()
        port_b, b4, _b6 = self.make_port()
        moving, staying = (
            self._wait_for_state_change(self.api.post_server({
                'server': self._build_server(
                    image_uuid=self.image_id, flavor_id=self.flavor_id,
                    networks=[{'port': port}], host=self.host)}), 'ACTIVE')
            for port in (port_a, port_b))

        moving = self._migrate_server(moving, host=self.host2)
        self.assertEqual(self.host2, moving['OS-EXT-SRV-ATTR:host'])
        container = self.second_docker.containers.get(
            naming.container_name(moving['id']))
        code, addrs = container.exec_run(['ip', 'addr'])
        self.assertIn('%s/24' % a4, addrs.decode())
        self.assertIn('%s/64' % a6, addrs.decode())
        code, output = container.exec_run(
            ['ping', '-c', '2', '-W', '3', b4])
        self.assertEqual(0, code, output)
        self.assert_pings(staying, a4)
        # One switch port each: the source unplugged its end.
        self.assertEqual(sorted([netplan.host_dev(port_a),
                                 netplan.host_dev(port_b)]),
                         sorted(self.ovs.ports()))

        moving = self._confirm_resize(moving)
        self.assertEqual([], self.docker.containers.list(
            all=True, filters={'label': '%s=%s' % (naming.INFRA_FOR,
                                                   moving['id'])}))
        self._delete_server(moving)
        self._delete_server(staying)
        self.assert_no_host_devices(port_a, port_b)


class TargetEngineDownTest(base.TwoEnginesTestCase, MoveAssertions):
    """The target host's engine stops answering: its compute service is
    disabled until it is back, so a move there is refused before the
    server stops, and the server stays as it was on its host."""

    def second_engine_url(self):
        self.target_engine = self.useFixture(support.OwnEngine())
        return self.target_engine.url

    def test_cold_migration_to_a_host_without_engine_is_refused(self):
        server = self._wait_for_state_change(self.api.post_server({
            'server': self._build_server(
                image_uuid=self.create_docker_image(),
                flavor_id=self.create_flavor(64), networks='none',
                host=self.host)}), 'ACTIVE')
        started = support.started_at(self.container(server))

        self.target_engine.stop()
        service = self.wait_for_service(self.host2, 'disabled')
        self.assertIn('does not answer', service['disabled_reason'])
        error = self.assertRaises(
            client.OpenStackApiException, self.api.post_server_action,
            server['id'], {'migrate': {'host': self.host2}})
        # Nova 34's API answers the conductor's NoValidHost for a cold
        # migration with a 500 naming it; the host's reason is in the
        # service list.
        self.assertIn('NoValidHost', error.response.text)

        server = self._wait_for_state_change(server, 'ACTIVE')
        self.assertEqual(self.host, server['OS-EXT-SRV-ATTR:host'])
        self.assertEqual('running', self.container_status(server))
        self.assertEqual(started, support.started_at(self.container(server)))
        self.assertEqual([], self.migration_tags(server))
        self.assertEqual([], self.moving_images())

        # Back: enabled again, and nothing of the server reached it.
        self.target_engine.start()
        self.wait_for_service(self.host2, 'enabled')
        self.assertEqual([], self.second_docker.containers.list(
            all=True, filters={'label': '%s=%s' % (naming.INSTANCE_UUID,
                                                   server['id'])}))

    def wait_for_service(self, host, status, timeout=60):
        deadline = time.monotonic() + timeout
        while True:
            service = self.api.get_services(host=host,
                                            binary='nova-compute')[0]
            if service['status'] == status or time.monotonic() > deadline:
                self.assertEqual(status, service['status'])
                return service
            time.sleep(0.5)
