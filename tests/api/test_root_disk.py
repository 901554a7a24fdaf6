"""A flavor's root disk size holds where the storage driver enforces it:
a compute host whose engine keeps its data on btrfs with quotas
(tools/btrfs-engine.sh) boots a 1 GB-root server, and a write past 1 GB
fails inside it."""

from nova_docker import host
from tests.api import base
from tests import support


class BtrfsRootDiskTest(base.DockerAPITestCase):

    def setUp(self):
        if support.on_podman():
            self.skipTest("Podman's overlay storage takes no root disk "
                          "size (README: Podman); test_security's "
                          "test_root_disk_refused_where_not_enforceable "
                          "proves the driver refuses it there")
        self.engine_url = support.btrfs_engine_url()
        super().setUp()

    def test_write_past_the_flavor_root_disk_fails(self):
        self.assertTrue(host.facts(self.docker.info()).root_disk_quota)
        server = self.boot(self.create_docker_image(),
                           self.create_flavor(disk=1))
        self.assertEqual({'size': '1G'},
                         self.container(server)['HostConfig']['StorageOpt'])

        result = self.docker.containers.get(
            self.container(server)['Id']).exec_run(
                ['dd', 'if=/dev/zero', 'of=/root/fill', 'bs=1M',
                 'count=1100'])

        # btrfs reports its quota as EDQUOT, not ENOSPC.
        self.assertNotEqual(0, result.exit_code)
        self.assertIn(b'Disk quota exceeded', result.output)
        self._delete_server(server)
        self.assert_no_container(server)
