"""End to end: the real ``openstack`` CLI against the all-in-one cloud.

What a user types, and what they see; after each step the container on the
engine is checked too (``docker inspect nova-<server id>``, on the first
compute host's engine: Podman's socket after ``up --engine podman``). Needs
a cloud from ``nova-docker-aio up`` (tools/run-tests.sh e2e brings one up):
NOVA_DOCKER_AIO_STATE names its state directory.
"""

import json
import os
import subprocess
import tempfile
import time
import unittest
import uuid

from nova_docker.aio import layout as layout_mod
from nova_docker.aio import podman

STATE = os.environ.get('NOVA_DOCKER_AIO_STATE', '/var/lib/nova-docker-aio')
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
GREETING = 'nova-docker says hello from'  # tools/build-test-images.sh
# What `openstack server show` prints for OS-EXT-STS:power_state.
RUNNING, PAUSED, SHUTDOWN = 1, 3, 4
# The first compute host's engine, for ``docker -H``.
ENGINE_URL = podman.engine_url(layout_mod.Layout(STATE))


def _cloud_env():
    env = dict(os.environ)
    env['PATH'] = os.path.join(STATE, 'venv', 'bin') + ':' + env['PATH']
    with open(os.path.join(STATE, 'openrc')) as f:
        for line in f:
            key, _, value = line.replace('export ', '', 1).strip(
                ).partition('=')
            if key.startswith('OS_'):  # PATH is set above
                env[key] = value
    return env


ENV = _cloud_env()


def osc(*args, check=True):
    """``openstack ARGS``; JSON output parsed when there is any."""
    proc = subprocess.run(('openstack',) + args, env=ENV, text=True,
                          capture_output=True, timeout=300)
    if check and proc.returncode:
        raise AssertionError('openstack %s failed (%d): %s' % (
            ' '.join(args), proc.returncode, proc.stderr.strip()))
    out = proc.stdout.strip()
    if '-f' in args and args[args.index('-f') + 1] == 'json' and out:
        return json.loads(out)
    return proc if not check else out


def inspect(server_id):
    """The container of a server as the engine sees it, or None."""
    proc = subprocess.run(['docker', '-H', ENGINE_URL, 'inspect',
                           'nova-' + server_id],
                          capture_output=True, text=True)
    return json.loads(proc.stdout)[0] if proc.returncode == 0 else None


class CloudTestCase(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.images = tempfile.mkdtemp(prefix='nova-docker-e2e-')
        ready = os.environ.get('NOVA_DOCKER_TEST_IMAGES')
        if ready and os.path.exists(os.path.join(ready, 'busybox.tar')):
            cls.images = ready
        else:
            subprocess.run([os.path.join(ROOT, 'tools',
                                         'build-test-images.sh'),
                            cls.images], check=True, capture_output=True)

    def unique(self, what):
        return 'e2e-%s-%s' % (what, uuid.uuid4().hex[:8])

    def create_image(self, path, **props):
        name = self.unique('image')
        args = ['image', 'create', '--container-format', 'docker',
                '--disk-format', 'raw', '--property',
                'hypervisor_type=docker', '--file', path, name,
                '-f', 'json']
        image = osc(*args)
        self.addCleanup(osc, 'image', 'delete', image['id'], check=False)
        self.assertEqual('active', image['status'])
        return image

    def create_server(self, image, expect_ok=True, nic=('--nic', 'none')):
        name = self.unique('server')
        proc = subprocess.run(
            ['openstack', 'server', 'create', '--image', image, '--flavor',
             'm1.tiny', *nic, '--wait', name, '-f', 'json'],
            env=ENV, text=True, capture_output=True, timeout=300)
        server = osc('server', 'show', name, '-f', 'json')
        self.addCleanup(self._delete_quietly, server['id'])
        if expect_ok:
            self.assertEqual(0, proc.returncode, proc.stderr)
        return server

    def _delete_quietly(self, server_id):
        osc('server', 'delete', '--wait', server_id, check=False)

    def console_shows(self, server_id, text, timeout=30):
        """``openstack console log show`` once it holds ``text``, or as it
        is at the deadline."""
        deadline = time.monotonic() + timeout
        while True:
            log = osc('console', 'log', 'show', server_id)
            if text in log or time.monotonic() > deadline:
                return log
            time.sleep(1)

    def wait_status(self, server_id, status, timeout=120):
        deadline = time.monotonic() + timeout
        while True:
            server = osc('server', 'show', server_id, '-f', 'json')
            if server['status'] == status and not server.get(
                    'OS-EXT-STS:task_state'):
                return server
            self.assertNotEqual('ERROR', server['status'], server)
            if time.monotonic() > deadline:
                self.fail('server %s stayed %s, not %s' % (
                    server_id, server['status'], status))
            time.sleep(1)


class TestServerLifecycle(CloudTestCase):

    def test_lifecycle(self):
        t0 = time.monotonic()

        def step(text):
            print('  [%5.1fs] %s' % (time.monotonic() - t0, text), flush=True)

        step('image create from docker save')
        image = self.create_image(os.path.join(self.images, 'busybox.tar'))

        step('server create --wait')
        server = self.create_server(image['id'])
        sid = server['id']
        self.assertEqual('ACTIVE', server['status'])
        self.assertEqual(RUNNING, server['OS-EXT-STS:power_state'])
        container = inspect(sid)
        self.assertIsNotNone(container, 'no container nova-%s' % sid)
        self.assertTrue(container['State']['Running'])
        self.assertEqual(sid, container['Config']['Labels'][
            'org.openstack.nova.instance-uuid'])

        step('server list')
        listed = {s['ID']: s for s in osc('server', 'list', '-f', 'json')}
        self.assertEqual('ACTIVE', listed[sid]['Status'])
        self.assertEqual(server['name'], listed[sid]['Name'])

        step('console log show')
        self.assertIn(GREETING, self.console_shows(sid, GREETING))

        step('server stop')
        osc('server', 'stop', sid)
        self.assertEqual(SHUTDOWN, self.wait_status(sid, 'SHUTOFF')[
            'OS-EXT-STS:power_state'])
        self.assertFalse(inspect(sid)['State']['Running'])

        step('server start')
        osc('server', 'start', sid)
        self.wait_status(sid, 'ACTIVE')
        self.assertTrue(inspect(sid)['State']['Running'])

        for kind in ('--soft', '--hard'):
            step('server reboot ' + kind)
            before = inspect(sid)['State']['StartedAt']
            osc('server', 'reboot', kind, '--wait', sid)
            self.wait_status(sid, 'ACTIVE')
            state = inspect(sid)['State']
            self.assertTrue(state['Running'])
            self.assertNotEqual(before, state['StartedAt'],
                                'reboot %s did not restart' % kind)

        step('server pause')
        osc('server', 'pause', sid)
        self.assertEqual(PAUSED, self.wait_status(sid, 'PAUSED')[
            'OS-EXT-STS:power_state'])
        self.assertTrue(inspect(sid)['State']['Paused'])

        step('server unpause')
        osc('server', 'unpause', sid)
        self.wait_status(sid, 'ACTIVE')
        self.assertFalse(inspect(sid)['State']['Paused'])
        self.assertIn(GREETING, self.console_shows(sid, GREETING))

        step('server delete --wait')
        osc('server', 'delete', '--wait', sid)
        listed = [s['ID'] for s in osc('server', 'list', '-f', 'json')]
        self.assertNotIn(sid, listed)
        self.assertIsNone(inspect(sid), 'container left after delete')


class TestBadInput(CloudTestCase):

    def test_image_that_is_not_a_docker_archive(self):
        with tempfile.NamedTemporaryFile(suffix='.img') as junk:
            junk.write(b'this is not a docker save archive\n' * 100)
            junk.flush()
            image = self.create_image(junk.name)
        server = self.create_server(image['id'], expect_ok=False)
        server = osc('server', 'show', server['id'], '-f', 'json')
        self.assertEqual('ERROR', server['status'])
        fault = server.get('fault') or {}
        # The user reads why, not a bare "No valid host was found".
        self.assertIn('not a tar archive made by docker save',
                      fault.get('message', ''), fault)
        self.assertIsNone(inspect(server['id']))


if __name__ == '__main__':
    unittest.main(verbosity=2)
