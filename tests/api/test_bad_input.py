"""Bad input through Nova's API: the server goes ERROR with a fault an
operator can act on, and nothing is left on the engine."""

import io
import uuid

from nova import context as nova_context

from tests.api import base
from tests import support


class BadInputTest(base.BadInputTestCase):

    def test_data_that_is_not_a_tar(self):
        image_id = self.create_docker_image(data=b'\x00not a tar' * 300)
        self.assert_fault(image_id, [image_id, 'not a tar archive'])

    def test_tar_that_is_not_a_docker_archive(self):
        image_id = self.create_docker_image(
            data=support.tar_bytes({'etc/hosts': b'127.0.0.1 localhost\n'}))
        self.assert_fault(image_id, ['not a docker image archive',
                                     'docker save'])

    def test_truncated_archive(self):
        data = support.archive_bytes('busybox')
        image_id = self.create_docker_image(data=data[:len(data) // 2])
        self.assert_fault(image_id, ['truncated'])

    def test_image_without_command(self):
        image_id = self.create_docker_image('nocmd')
        self.assert_fault(image_id, ['has no command', 'os_command_line'])

    def test_workload_that_exits_at_once(self):
        image_id = self.create_docker_image(
            os_command_line='sh -c "echo cannot find my config; exit 3"')
        self.assert_fault(image_id, ['exited at once with code 3',
                                     'cannot find my config'])

    def test_flavor_below_engine_minimum_memory(self):
        image_id = self.create_docker_image()
        self.assert_fault(image_id, ['needs at least 6 MB'],
                          flavor_id=self.create_flavor(memory_mb=4))

    def test_non_numeric_quota_extra_spec(self):
        image_id = self.create_docker_image()
        flavor_id = self.create_flavor()
        # Nova validates extra specs from microversion 2.86 on; older
        # clients and direct DB edits can still store anything.
        self.api.microversion = '2.85'
        self.api.post_extra_spec(
            flavor_id, {'extra_specs': {'quota:cpu_shares': 'lots'}})
        self.api.microversion = 'latest'
        self.assert_fault(image_id, ['quota:cpu_shares', 'not an integer'],
                          flavor_id=flavor_id)

    def test_wrong_container_format(self):
        meta = {'name': 'qcow', 'container_format': 'bare',
                'disk_format': 'raw', 'status': 'active'}
        image = self.glance.create(nova_context.get_admin_context(), meta,
                                   data=io.BytesIO(b'x' * 512))
        self.engine_cleanup.image_ids.append(image['id'])
        self.assert_fault(image['id'], ['container_format is bare',
                                        'container_format=docker'])

    def test_checksum_mismatch(self):
        image_id = self.create_docker_image()
        self.glance.images[image_id]['checksum'] = 'f' * 32
        self.assert_fault(image_id, ['does not match', 'checksum'])

    def test_glance_image_deleted_during_download(self):
        image_id = self.create_docker_image()
        glance_download = self.glance.download

        def download_then_vanish(context, image_id, data=None, **kw):
            # Half the data arrives, then Glance says the image is gone.
            data.write(self.glance._imagedata[image_id][:4096])
            self.glance.delete(context, image_id)
            return glance_download(context, image_id, data=data, **kw)
        self.stub_out('nova.tests.fixtures.GlanceFixture.download',
                      lambda _self, *a, **kw: download_then_vanish(*a, **kw))
        self.assert_fault(image_id, ['deleted from Glance during the '
                                     'download'])


class EngineUnreachableTest(base.DockerAPITestCase):

    def test_spawn_with_engine_gone(self):
        image_id = self.create_docker_image()
        # A real connection failure: a socket nobody listens on.
        dead_url = 'unix:///tmp/nova-docker-nobody-%s.sock' % uuid.uuid4().hex
        self.flags(api_url=dead_url, group='docker')
        self.compute = self.restart_compute_service(
            self.compute, keep_hypervisor_state=False)
        server = self.boot(image_id, expected_state='ERROR')
        self.assert_no_container(server)
        # An engine outage is the host's problem, not the request's: Nova
        # reschedules the build (another host may have a working engine),
        # so the server's last fault is the scheduler's. The compute's own
        # error, in its log, names the engine and the fix.
        log = self.stdlog.logger.output
        # It never answered: which engine should serve there is unknown.
        self.assertIn('The container engine at %s is not answering'
                      % dead_url, log)
        self.assertIn('Start its engine (dockerd, or podman system service) '
                      'on this host', log)
