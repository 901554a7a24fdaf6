"""Rescue and unrescue through Nova's API: the rescue image runs as the
server's workload on its own address, with the original's files at
/mnt/rescue; a file fixed there is fixed in the original afterwards."""

import os
import warnings

import fixtures

from nova_docker import naming
from nova_docker import rescue
from tests.api import test_network
from tests import archives
from tests import support

with warnings.catch_warnings():
    # Deprecated in 3.11, still the one stdlib way to check a crypt hash.
    warnings.simplefilter('ignore', DeprecationWarning)
    import crypt

BROKEN = '/etc/broken.conf'


class RescueTestBase(test_network.NetworkTestBase):

    def setUp(self):
        super().setUp()
        self.instances_path = self.useFixture(fixtures.TempDir()).path
        self.flags(instances_path=self.instances_path)

    def rescue(self, server, **body):
        answer = self.api.post_server_action(server['id'], {'rescue': body})
        return self._wait_for_state_change(server, 'RESCUE'), answer

    def in_rescue(self, server, *command):
        """Run a command in the rescue container; returns its output."""
        code, output = support.exec_in_container(
            self.docker, naming.rescue_name(server['id']), command)
        self.assertEqual(0, code, output)
        return output

    def rescue_record(self, server):
        return self.docker.api.inspect_container(
            naming.rescue_name(server['id']))

    def mounted(self, server):
        with open('/proc/self/mountinfo') as f:
            return rescue.host_dir(server['id']) in f.read()

    def assert_no_rescue_left(self, server):
        self.assertEqual([], self.docker.containers.list(
            all=True, filters={'label': '%s=%s' % (naming.RESCUE_FOR,
                                                   server['id'])}))
        self.assertFalse(self.mounted(server))
        self.assertFalse(os.path.exists(rescue.host_dir(server['id'])))


class RescueTest(RescueTestBase):

    def test_rescue_with_own_image_fixes_a_file_on_the_same_address(self):
        port_id, v4, _v6 = self.make_port()
        server = self.boot_with_ports(port_id)
        self.exec_in(server, 'sh', '-c', 'echo broken > ' + BROKEN)

        server, answer = self.rescue(server, adminPass='Rescue-pw1')
        self.assertEqual('Rescue-pw1', answer['adminPass'])
        self.assertEqual(1, server['OS-EXT-STS:power_state'])   # RUNNING
        self.assertEqual('exited', self.container_status(server))
        record = self.rescue_record(server)
        self.assertTrue(record['State']['Running'])
        # The server's own image, on the server's own address.
        self.assertEqual(self.container(server)['Image'], record['Image'])
        self.assertIn(v4 + '/', self.in_rescue(server, 'ip', '-4', 'addr'))
        # The original's files, readable and writable.
        self.assertEqual('broken\n', self.in_rescue(
            server, 'cat', '/mnt/rescue' + BROKEN))
        self.in_rescue(server, 'sh', '-c',
                       'echo fixed > /mnt/rescue' + BROKEN)
        # Nova's rescue password is root's in the rescue container.
        entry = self.in_rescue(server, 'cat', '/etc/passwd').splitlines()[0]
        stored = entry.split(':')[1]
        self.assertEqual(stored, crypt.crypt('Rescue-pw1', stored))

        # nova-compute restarts in between: the rescue stays as it is.
        self.compute = self.restart_compute_service(self.compute)
        self.assertTrue(self.rescue_record(server)['State']['Running'])
        self.assertEqual('RESCUE', self.api.get_server(server['id'])['status'])

        self.api.post_server_action(server['id'], {'unrescue': None})
        server = self._wait_for_state_change(server, 'ACTIVE')
        self.assertEqual('running', self.container_status(server))
        self.assertEqual('fixed\n', self.exec_in(server, 'cat', BROKEN))
        self.assert_pings(server, v4)
        self.assert_no_rescue_left(server)
        self._delete_server(server)
        self.assert_no_container(server)

    def test_rescue_with_another_image_then_delete_leaves_nothing(self):
        server = self.boot(self.image_id, self.flavor_id)
        self.exec_in(server, 'sh', '-c', 'echo broken > ' + BROKEN)
        other = self.create_docker_image(
            'nocmd', os_command_line='/bin/sleep 3600')

        server, _answer = self.rescue(server, rescue_image_ref=other)
        record = self.rescue_record(server)
        self.assertTrue(record['State']['Running'])
        self.assertEqual(['/bin/sleep', '3600'], record['Config']['Cmd'])
        self.assertNotEqual(self.container(server)['Image'], record['Image'])
        self.assertEqual('broken\n', self.in_rescue(
            server, 'cat', '/mnt/rescue' + BROKEN))
        self.assertTrue(self.mounted(server))

        self._delete_server(server)
        self.assert_no_container(server)
        self.assert_no_rescue_left(server)
        self.assertFalse(os.path.exists(
            os.path.join(self.instances_path, server['id'])))

    def test_rescue_of_an_image_of_sixty_layers(self):
        # More layers than mount(2)'s one page of overlay options holds by
        # their full paths.
        image_id = self.create_docker_image(data=archives.layered(60))
        server = self.boot(image_id, self.flavor_id)

        server, _answer = self.rescue(server)
        self.assertEqual(60, len(self.docker.api.inspect_image(
            self.rescue_record(server)['Image'])['RootFS']['Layers']))
        for layer in (1, 59):   # the lowest added layer and the top one
            self.assertEqual('%d\n' % layer, self.in_rescue(
                server, 'cat', '/mnt/rescue/layers/%d' % layer))
        self.in_rescue(server, 'sh', '-c', 'echo fixed > /mnt/rescue' + BROKEN)

        self.api.post_server_action(server['id'], {'unrescue': None})
        server = self._wait_for_state_change(server, 'ACTIVE')
        self.assertEqual('fixed\n', self.exec_in(server, 'cat', BROKEN))
        self.assert_no_rescue_left(server)
        self._delete_server(server)
        self.assert_no_container(server)

    def test_deleted_while_rescued_and_compute_down_leaves_nothing(self):
        server = self.boot(self.image_id, self.flavor_id)
        server, _answer = self.rescue(server)
        self.assertTrue(self.mounted(server))
        # Nova deletes it in its database only; the next start-up of
        # nova-compute removes the containers and the mount.
        self.compute.stop()
        service_id = self.api.get_services(
            host=self.host, binary='nova-compute')[0]['id']
        self.api.put_service_force_down(service_id, True)
        self.api.delete_server(server['id'])
        self._wait_until_deleted(server)
        self.compute = self.restart_compute_service(
            self.compute, keep_hypervisor_state=False)
        self.api.put_service_force_down(service_id, False)

        self.assert_no_container(server)
        self.assert_no_rescue_left(server)


class BtrfsRescueTest(RescueTestBase):
    """On Docker's btrfs storage the rescue container gets the original's
    own subvolume."""

    def setUp(self):
        if support.on_podman():
            self.skipTest("Docker's btrfs storage driver: Podman has no "
                          "btrfs engine here; its overlay layers are "
                          "RescueTest's")
        self.engine_url = support.btrfs_engine_url()
        super().setUp()

    test_rescue_with_another_image_then_delete_leaves_nothing = (
        RescueTest.test_rescue_with_another_image_then_delete_leaves_nothing)
