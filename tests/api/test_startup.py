"""nova-compute start-up removes what this host left behind (a server
deleted while the service was down, interrupted snapshot uploads and image
downloads), keeps what Nova still places here and never touches another
compute host's containers, tags or files."""

import os
import uuid

import fixtures

from nova_docker import naming
from tests.api import test_network
from tests import support


class StartupLeftoversTest(test_network.NetworkTestBase):

    def plant_container(self, host, labels):
        """A container as a crashed nova-compute of ``host`` leaves it."""
        labels = dict(labels, **{naming.COMPUTE_HOST: host})
        container = self.docker.containers.create(
            self.image_ref, command=['true'], labels=labels,
            name='leftover-' + uuid.uuid4().hex[:12])
        return container.id

    def plant_snapshot_tag(self, host):
        ref = naming.snapshot_reference(str(uuid.uuid4()), host)
        repository, tag = ref.rsplit(':', 1)
        self.docker.api.tag(self.image_ref, repository, tag)
        self.addCleanup(support.remove_tag, self.docker, ref)
        return ref

    def plant_staging_file(self, prefix):
        path = os.path.join(self.staging_dir, prefix + uuid.uuid4().hex[:8])
        with open(path, 'wb') as f:
            f.write(b'half an image')
        return path

    def exists(self, container_id):
        return bool(self.docker.containers.list(
            all=True, filters={'id': container_id}))

    def test_restart_removes_this_hosts_leftovers_only(self):
        other_host = support.unique_host()
        self.useFixture(support.EngineCleanup(self.docker, other_host))
        self.staging_dir = self.useFixture(fixtures.TempDir()).path
        self.flags(image_staging_dir=self.staging_dir, group='docker')
        kept = self.boot(self.image_id)
        port, _v4, _v6 = self.make_port()
        deleted = self.boot_with_ports(port)
        self.image_ref = self.container(kept)['Image']

        # Deleted while nova-compute was down: Nova deletes it in its
        # database only; its containers and port stay on the host.
        self.compute.stop()
        service_id = self.api.get_services(
            host=self.host, binary='nova-compute')[0]['id']
        self.api.put_service_force_down(service_id, True)
        self.api.delete_server(deleted['id'])
        self._wait_until_deleted(deleted)
        # What a crash leaves: an infra container of an instance Nova
        # never finished, a snapshot tag, a staging file; and the same
        # things of another compute host sharing the engine and this
        # machine, which must stay.
        infra = self.plant_container(
            self.host, {naming.INFRA_FOR: str(uuid.uuid4())})
        ours_tag = self.plant_snapshot_tag(self.host)
        ours_file = self.plant_staging_file(naming.staging_prefix(self.host))
        others = [
            self.plant_container(other_host,
                                 {naming.INSTANCE_UUID: deleted['id']}),
            self.plant_container(other_host,
                                 {naming.INFRA_FOR: str(uuid.uuid4())})]
        others_tag = self.plant_snapshot_tag(other_host)
        others_file = self.plant_staging_file(
            naming.staging_prefix(other_host))

        self.compute = self.restart_compute_service(
            self.compute, keep_hypervisor_state=False)
        self.api.put_service_force_down(service_id, False)

        # Of this host's containers, only the kept server's is left.
        self.assertEqual([naming.container_name(kept['id'])],
                         [c.name for c in self.engine_cleanup.containers()])
        self.assertFalse(self.exists(infra))
        self.assert_no_host_devices(port)
        self.assertEqual([], self.docker.images.list(
            name=ours_tag.rsplit(':', 1)[0]))
        self.assertFalse(os.path.exists(ours_file))
        self.assertEqual('running', self.container_status(kept))
        self.assertEqual('ACTIVE', self.api.get_server(kept['id'])['status'])
        self.assertTrue(all(self.exists(c) for c in others))
        self.assertEqual(1, len(self.docker.images.list(
            name=others_tag.rsplit(':', 1)[0])))
        self.assertTrue(os.path.exists(others_file))
        # Each leftover logged once.
        log = self.stdlog.logger.output
        self.assertEqual(1, log.count(
            'Removed leftover containers nova-%s, nova-%s-infra of instance '
            '%s (deleted) and its ports %s' % (
                deleted['id'], deleted['id'], deleted['id'], port)))
        self.assertEqual(1, log.count(ours_tag))
        self.assertEqual(1, log.count(ours_file))
