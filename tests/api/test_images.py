"""Images both ways through Nova's API: snapshots back to Glance, boot
from a snapshot, shelve/unshelve, rebuild."""

from nova import context as nova_context
from oslo_utils import uuidutils

from nova_docker import naming
from tests.api import base
from tests import archives
from tests import support


class SnapshotTest(base.DockerAPITestCase):

    def setUp(self):
        super().setUp()
        self.image_id = self.create_docker_image()

    def test_snapshot_boots_with_the_files_it_had(self):
        self.flags(force_config_drive=True)
        server = self.boot(self.image_id)
        self.exec_in(server, 'sh', '-c', 'echo precious > /root/note')

        snapshot_id = self.api.post_server_action(
            server['id'], {'createImage': {'name': 'with-note'}})['image_id']
        self._wait_for_server_parameter(
            server, {'OS-EXT-STS:task_state': None}, max_retries=60)
        stored = self.glance.show(None, snapshot_id)
        self.assertEqual('docker', stored['container_format'])
        self.assertEqual('raw', stored['disk_format'])
        # The container kept running; the temporary commit is gone.
        self.assertEqual('running', self.container_status(server))
        self.assertEqual([], self.docker.images.list(
            name=naming.SNAPSHOT_REPOSITORY + snapshot_id))

        # The clone, without a config drive, has the files and nothing of
        # its source's drive (its image declares no volume there).
        self.flags(force_config_drive=False)
        clone = self.boot(snapshot_id)
        self.assertEqual('precious\n', self.exec_in(clone, 'cat',
                                                    '/root/note'))
        self.assertIsNone(self.container(clone)['Config']['Volumes'])
        self.assertEqual([], self.container(clone)['Mounts'])

    def test_shelve_offload_and_unshelve_keep_the_files(self):
        server = self.boot(self.image_id)
        self.exec_in(server, 'sh', '-c', 'echo shelved > /root/note')

        self.api.post_server_action(server['id'], {'shelve': None})
        server = self._wait_for_state_change(server, 'SHELVED_OFFLOADED')
        self.assert_no_container(server)

        self.api.post_server_action(server['id'], {'unshelve': None})
        server = self._wait_for_state_change(server, 'ACTIVE')
        self.assertEqual('shelved\n', self.exec_in(server, 'cat',
                                                   '/root/note'))


class RebuildTest(base.DockerAPITestCase):

    def test_rebuild_with_another_image(self):
        first = self.create_docker_image()
        second = self.create_docker_image(
            os_command_line='sh -c "echo rebuilt; exec sleep 100000"')
        server = self.boot(first)
        old_id = self.container(server)['Id']

        self.api.post_server_action(server['id'],
                                    {'rebuild': {'imageRef': second}})
        server = self._wait_for_state_change(server, 'ACTIVE')

        container = self.container(server)
        self.assertNotEqual(old_id, container['Id'])
        self.assertEqual(second, container['Config']['Labels'][
            naming.IMAGE_ID])
        self.assertIn('rebuilt', self.docker.api.logs(container['Id'])
                      .decode())
        self.assertEqual(1, len(self.docker.containers.list(
            all=True, filters={'label': '%s=%s' % (naming.INSTANCE_UUID,
                                                   server['id'])})))


class ImageCacheTest(base.DockerAPITestCase):

    def test_ageing_removes_only_unused_images_this_driver_loaded(self):
        used = self.create_docker_image()
        unused = self.create_docker_image(os_command_line='sleep 100000')
        self.boot(used)
        self._delete_server(self.boot(unused))
        foreign = support.host_image(self.docker)
        self.flags(remove_unused_original_minimum_age_seconds=0,
                   group='image_cache')

        self.compute.manager._run_image_cache_manager_pass(
            nova_context.get_admin_context())

        self.assert_no_image_tag(unused)
        self.assertEqual(1, len(self.docker.images.list(
            name=naming.IMAGE_REPOSITORY + used)))
        self.assertEqual(foreign, support.host_image(self.docker))

    def test_young_images_stay(self):
        # An image of its own: on a shared Podman engine, a server of a
        # test running beside this one could use the same image by id,
        # and Podman keeps an image's last tag while a container uses it.
        own_layer = support.tar_bytes(
            {'young': uuidutils.generate_uuid().encode()})
        unused = self.create_docker_image(
            data=archives.with_layers([own_layer]))
        self._delete_server(self.boot(unused))
        self.flags(remove_unused_original_minimum_age_seconds=3600,
                   group='image_cache')

        self.compute.manager._run_image_cache_manager_pass(
            nova_context.get_admin_context())

        # Podman records no tag time: there ageing removes unused images
        # whatever their age (README: Podman).
        self.assertEqual(0 if support.on_podman() else 1, len(
            self.docker.images.list(name=naming.IMAGE_REPOSITORY + unused)))

    def test_aggregate_image_precache(self):
        image_id = self.create_docker_image()
        self.assertEqual({image_id: 'cached'},
                         self.compute.manager.cache_images(
                             nova_context.get_admin_context(), [image_id]))
        self.assertEqual({image_id: 'existing'},
                         self.compute.manager.cache_images(
                             nova_context.get_admin_context(), [image_id]))
        self.assertEqual(1, len(self.docker.images.list(
            name=naming.IMAGE_REPOSITORY + image_id)))


class RegistryImageTest(base.DockerAPITestCase):

    def _setup_compute_service(self):
        # The driver reads [docker] allowed_registries when it starts.
        self.registry = support.test_registry()
        self.reference = self.registry + '/ndtest/busybox:1'
        self.flags(allowed_registries=[self.registry], group='docker')
        return super()._setup_compute_service()

    def test_pull_when_the_operator_allows_the_registry(self):
        # Glance needs data to make an image active: an empty upload.
        image_id = self.create_docker_image(data=b'',
                                            docker_image=self.reference)

        server = self.boot(image_id)

        self.assertEqual('running', self.container_status(server))
        # Only this driver's own tag stays: the pulled name is not left.
        self.assertEqual([], self.docker.images.list(
            name=self.registry + '/ndtest/busybox'))

    def test_other_registries_are_refused(self):
        image_id = self.create_docker_image(
            data=b'', docker_image='127.0.0.2:5999/ndtest/busybox:1')
        server = self.boot(image_id, expected_state='ERROR')
        self.assertIn('does not pull from 127.0.0.2:5999',
                      server['fault']['message'])
        self.assertIn('allowed_registries', server['fault']['message'])
        self.assert_no_container(server)


class RegistryPullOffByDefaultTest(base.DockerAPITestCase):

    def test_refused_by_default(self):
        registry = support.test_registry()
        image_id = self.create_docker_image(
            data=b'', docker_image=registry + '/ndtest/busybox:1')
        server = self.boot(image_id, expected_state='ERROR')
        self.assertIn('does not pull from %s' % registry,
                      server['fault']['message'])
        self.assert_no_container(server)
