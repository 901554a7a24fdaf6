"""What a guest sees: config drive, key pair, user data, admin password,
diagnostics, and the calls a container refuses, checked inside the
container. Each test boots one server and asserts many things on it, to
keep the suite short."""

import base64
import io
import json
import os
import tarfile
import time

from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives import serialization
import fixtures
from nova.tests.functional.api import client as api_client

from nova_docker import configdrive
from tests.api import base
from tests import archives
from tests import support

USER_DATA = b'#!/bin/sh\necho ran >> /tmp/user-data-runs\n'
DRIVE = configdrive.MOUNT_PATH + '/openstack/latest/'


PASSWD = ('root:x:0:0:root:/root:/bin/sh\n'
          'app:x:1000:1000::/home/app:/bin/sh\n')
SHADOW = ('root:*:19000:0:99999:7:::\n'
          'app:!:19000:0:99999:7:::\n')


def accounts_layer():
    """A layer adding /etc/passwd and a Debian-like /etc/shadow (mode 640,
    group shadow) with root and app, whose passwords are locked."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode='w') as tar:
        for name, text, mode, gid in (('etc/passwd', PASSWD, 0o644, 0),
                                      ('etc/shadow', SHADOW, 0o640, 42)):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.gid = len(text), mode, gid
            tar.addfile(info, io.BytesIO(text.encode()))
    return out.getvalue()


def public_key():
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    return key.public_bytes(serialization.Encoding.OpenSSH,
                            serialization.PublicFormat.OpenSSH).decode()


class GuestTest(base.DockerAPITestCase):

    def setUp(self):
        super().setUp()
        self.instances_path = self.useFixture(fixtures.TempDir()).path
        self.flags(instances_path=self.instances_path)

    def boot_with(self, image_id, expected_state='ACTIVE', **fields):
        server = self._build_server(image_uuid=image_id,
                                    flavor_id=self.create_flavor(),
                                    networks='none')
        server.update(fields)
        if 'personality' in fields:
            # Injected files went away with microversion 2.57.
            self.api.microversion = '2.56'
        try:
            server = self.api.post_server({'server': server})
        finally:
            self.api.microversion = 'latest'
        return self._wait_for_state_change(server, expected_state)

    def root_password_is(self, server, password):
        entry = self.exec_in(server, 'cat', '/etc/passwd').splitlines()[0]
        return support.password_is(entry.split(':')[1], password)

    def read_file(self, server, path):
        return support.read_file(self.docker, server['id'], path)

    def wait_for_file(self, server, path, timeout=30):
        deadline = time.monotonic() + timeout
        while True:
            result = self.docker.containers.get(
                'nova-' + server['id']).exec_run(['cat', path])
            if result.exit_code == 0:
                return result.output.decode()
            if time.monotonic() > deadline:
                self.fail('%s did not appear in the container' % path)
            time.sleep(0.2)

    def test_first_boot_config_drive_key_user_data_password(self):
        self.flags(run_user_data=True, group='docker')
        key = public_key()
        self.api.post_keypair({'keypair': {'name': 'k1', 'public_key': key}})
        server = self.boot_with(
            self.create_docker_image(), key_name='k1', config_drive=True,
            adminPass='boot-Secret-1',
            user_data=base64.b64encode(USER_DATA).decode(),
            personality=[{'path': '/etc/banner.d/hello',
                          'contents': base64.b64encode(b'hi').decode()}])

        # The key, in root's authorized_keys with ssh's modes and owner.
        self.assertEqual(key + '\n', self.exec_in(
            server, 'cat', '/root/.ssh/authorized_keys'))
        listing = self.exec_in(server, 'ls', '-lnd', '/root/.ssh',
                               '/root/.ssh/authorized_keys').splitlines()
        self.assertRegex(listing[0], r'^drwx------ +\d+ 0 +0 ')
        self.assertRegex(listing[1], r'^-rw------- +\d+ 0 +0 ')

        # The injected file (personality), where it was asked for.
        self.assertEqual('hi', self.exec_in(server, 'cat',
                                            '/etc/banner.d/hello'))

        # Nova's config drive, read-only where cloud-init looks.
        meta = json.loads(self.exec_in(server, 'cat',
                                       DRIVE + 'meta_data.json'))
        self.assertEqual(server['id'], meta['uuid'])
        self.assertEqual(key, meta['public_keys']['k1'].strip())
        self.assertEqual(USER_DATA.decode(),
                         self.exec_in(server, 'cat', DRIVE + 'user_data'))
        self.assertEqual(
            ['meta_data.json', 'network_data.json', 'user_data',
             'vendor_data.json', 'vendor_data2.json'],
            self.exec_in(server, 'ls', DRIVE).split())
        mounts = {m['Destination']: m for m in self.container(server)[
            'Mounts']}
        self.assertFalse(mounts[configdrive.MOUNT_PATH]['RW'])

        # The user-data script ran once; the boot password is root's.
        self.assertEqual('ran\n', self.wait_for_file(
            server, '/tmp/user-data-runs'))
        self.assertTrue(self.root_password_is(server, 'boot-Secret-1'))

        # server set --root-password
        self.api.post_server_action(
            server['id'], {'changePassword': {'adminPass': 'new-Secret-2'}})
        self.assertTrue(self.root_password_is(server, 'new-Secret-2'))

        # Diagnostics from the engine's statistics (2.48 and legacy). The
        # response schema allows only Nova's in-tree driver names in
        # "driver", which stays null here: Nova's default validation
        # (warn) serves it, the test fixture's (error) would not.
        self.flags(response_validation='warn', group='api')
        diags = self.api.api_get(
            '/servers/%s/diagnostics' % server['id']).body
        self.assertEqual('running', diags['state'])
        self.assertEqual('docker', diags['hypervisor'])
        self.assertIsNone(diags['driver'])
        self.assertTrue(diags['config_drive'])
        self.assertEqual(64, diags['memory_details']['maximum'])
        self.assertGreater(diags['cpu_details'][0]['time'], 0)
        self.assertGreaterEqual(diags['uptime'], 0)
        self.assertEqual(1, diags['num_disks'])
        self.api.microversion = '2.1'
        legacy = self.api.api_get(
            '/servers/%s/diagnostics' % server['id']).body
        self.api.microversion = 'latest'
        self.assertEqual(64, legacy['memory_mb'])

        # Suspend is refused with a reason; the server stays ACTIVE.
        # (Nova's test fixture runs the cast to the compute service as a
        # call, so the refusal also comes back here; the API answers 202.)
        self.assertRaises(api_client.OpenStackApiException,
                          self.api.post_server_action, server['id'],
                          {'suspend': None})
        event = self._wait_for_instance_action_event(
            server, 'suspend', 'compute_suspend_instance', 'Error')
        self.assertIn('CRIU', event['details'])
        server = self._wait_for_state_change(server, 'ACTIVE')
        self.assertEqual('running', self.container_status(server))

        # A hard reboot keeps the drive and does not run user data again.
        server = self._reboot_server(server, hard=True)
        self.assertEqual(server['id'], json.loads(self.exec_in(
            server, 'cat', DRIVE + 'meta_data.json'))['uuid'])
        self.assertEqual('ran\n', self.exec_in(
            server, 'cat', '/tmp/user-data-runs'))

        # A rebuild is a first boot again: a new drive, the key again.
        server = self._rebuild_server(server, server['image']['id'])
        self.assertEqual(server['id'], json.loads(self.exec_in(
            server, 'cat', DRIVE + 'meta_data.json'))['uuid'])
        self.assertEqual(key + '\n', self.exec_in(
            server, 'cat', '/root/.ssh/authorized_keys'))

        # Deleting the server removes its drive from the host.
        self._delete_server(server)
        self.assertEqual([], os.listdir(self.instances_path))

    def test_injected_files_that_escape_are_refused(self):
        image_id = self.create_docker_image()
        for path, words in (('/etc/../../x', ["contains '..'"]),
                            ('/bin/sh', ['/bin/sh is a symbolic link'])):
            server = self.boot_with(
                image_id, expected_state='ERROR',
                personality=[{'path': path, 'contents': 'eA=='}])
            message = server['fault']['message']
            for word in [path] + words:
                self.assertIn(word, message)
            self.assert_no_container(server)

    def test_password_in_shadow_of_an_image_without_a_shell(self):
        # A distroless image with accounts: no shell or chpasswd to run,
        # yet the image user (app, its USER) gets the boot's password and
        # a new one, their hashes written into /etc/shadow, the file's
        # mode and owner kept.
        image_id = self.create_docker_image(data=archives.with_layers(
            [accounts_layer()], base='nosh',
            config=lambda c: c['config'].update(User='app')))
        server = self.boot_with(image_id, adminPass='boot-Secret-4')
        self.assertEqual('running', self.container_status(server))
        if support.on_podman():
            # Podman does not say whose a file it reads out is (it names
            # the container's user): the file is left as it was, and this
            # image has nothing else to set the password with.
            self.assertEqual(SHADOW, self.read_file(server, '/etc/shadow')[1])
            return
        today = str(int(time.time() // 86400))

        def assert_password_of_app(password):
            member, shadow = self.read_file(server, '/etc/shadow')
            root, app = [line.split(':') for line in shadow.splitlines()]
            self.assertEqual(SHADOW.splitlines()[0], ':'.join(root))
            self.assertEqual(['app', today, '0', '99999', '7', '', '', ''],
                             app[:1] + app[2:])
            self.assertTrue(support.password_is(app[1], password))
            self.assertEqual((0o640, 0, 42),
                             (member.mode & 0o7777, member.uid, member.gid))

        assert_password_of_app('boot-Secret-4')
        self.api.post_server_action(server['id'], {
            'changePassword': {'adminPass': 'new-Secret-5'}})
        assert_password_of_app('new-Secret-5')
        self.assertEqual(PASSWD, self.read_file(server, '/etc/passwd')[1])

    def test_image_without_tools_refuses_password_and_boots(self):
        key = public_key()
        self.api.post_keypair({'keypair': {'name': 'k2', 'public_key': key}})
        # No shell, no /etc/passwd: the key cannot be installed and the
        # boot password cannot be set, yet the server boots; the config
        # drive (forced by the operator) still carries both.
        self.flags(force_config_drive=True)
        server = self.boot_with(self.create_docker_image('nosh'),
                                key_name='k2')
        drive = os.path.join(self.instances_path, server['id'],
                             configdrive.DRIVE_DIR, 'openstack', 'latest')
        with open(os.path.join(drive, 'meta_data.json')) as f:
            self.assertEqual(key, json.load(f)['public_keys']['k2'].strip())

        error = self.assertRaises(
            api_client.OpenStackApiException, self.api.post_server_action,
            server['id'], {'changePassword': {'adminPass': 'Secret-3'}})
        self.assertEqual(409, error.response.status_code)
        self.assertIn('not supported by this image', str(error))
        server = self.api.get_server(server['id'])
        self.assertEqual('ACTIVE', server['status'])
        self.assertIsNone(server['OS-EXT-STS:task_state'])
        self.assertEqual('running', self.container_status(server))
