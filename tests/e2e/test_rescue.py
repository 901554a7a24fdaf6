"""End to end: `openstack server rescue`, the server's files fixed from the
rescue container at /mnt/rescue, `openstack server unrescue`: the server
runs its own workload again with the fix, and nothing of the rescue is
left on the host."""

import os
import subprocess

from tests.e2e import test_cli

BROKEN = '/etc/broken.conf'


def docker_exec(container, *command):
    proc = subprocess.run(['docker', 'exec', container] + list(command),
                          capture_output=True, text=True, timeout=60)
    return proc.returncode, proc.stdout + proc.stderr


class TestRescue(test_cli.CloudTestCase):

    def run_in(self, container, *command):
        code, output = docker_exec(container, *command)
        self.assertEqual(0, code, output)
        return output

    def test_rescue_fix_a_file_and_unrescue(self):
        image = self.create_image(os.path.join(self.images, 'busybox.tar'))
        sid = self.create_server(image['id'])['id']
        original, rescue = 'nova-' + sid, 'nova-%s-rescue' % sid
        self.run_in(original, 'sh', '-c', 'echo broken > ' + BROKEN)

        test_cli.osc('server', 'rescue', '--password', 'Rescue-pw1', sid)
        server = self.wait_status(sid, 'RESCUE')
        self.assertEqual(test_cli.RUNNING, server['OS-EXT-STS:power_state'])
        self.assertFalse(test_cli.inspect(sid)['State']['Running'])
        self.assertEqual('broken\n', self.run_in(
            rescue, 'cat', '/mnt/rescue' + BROKEN))
        self.run_in(rescue, 'sh', '-c', 'echo fixed > /mnt/rescue' + BROKEN)
        # Nova's 409 for what a rescued server cannot do.
        refused = test_cli.osc('server', 'stop', sid, check=False)
        self.assertNotEqual(0, refused.returncode)
        self.assertIn('409', refused.stderr)

        test_cli.osc('server', 'unrescue', sid)
        self.wait_status(sid, 'ACTIVE')
        self.assertTrue(test_cli.inspect(sid)['State']['Running'])
        self.assertEqual('fixed\n', self.run_in(original, 'cat', BROKEN))
        self.assertIsNone(test_cli.inspect(sid + '-rescue'),
                          'rescue container left')
        with open('/proc/self/mountinfo') as f:
            self.assertNotIn('%s/rescue' % sid, f.read())
