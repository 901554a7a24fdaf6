"""End to end: `openstack server rescue --image` starts the rescue image
with the server's files at /mnt/rescue; a file fixed there is fixed in
the server after `openstack server unrescue`."""

import os
import subprocess

from tests.e2e import test_cli

BROKEN = '/etc/broken.conf'


def docker_exec(container, *command):
    return subprocess.run(['docker', 'exec', container, *command],
                          capture_output=True, text=True, timeout=60,
                          check=True).stdout


class TestRescue(test_cli.CloudTestCase):

    def test_fix_a_file_in_rescue(self):
        image = self.create_image(os.path.join(self.images, 'busybox.tar'))
        server = self.create_server(image['id'])
        sid = server['id']
        docker_exec('nova-' + sid, 'sh', '-c', 'echo broken > ' + BROKEN)

        test_cli.osc('server', 'rescue', '--image', image['id'], sid)
        self.wait_status(sid, 'RESCUE')
        rescue = 'nova-%s-rescue' % sid
        self.assertEqual('broken\n', docker_exec(
            rescue, 'cat', '/mnt/rescue' + BROKEN))
        docker_exec(rescue, 'sh', '-c', 'echo fixed > /mnt/rescue' + BROKEN)

        test_cli.osc('server', 'unrescue', sid)
        self.wait_status(sid, 'ACTIVE')
        self.assertEqual('fixed\n', docker_exec('nova-' + sid, 'cat', BROKEN))
        self.assertIsNone(test_cli.inspect(sid + '-rescue'))
