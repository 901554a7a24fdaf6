"""First-boot content: the image user's account, authorized_keys, the
user-data script, the password's entry, by table."""

import base64
import io
import tarfile
import warnings

from nova import exception as nova_exception
import testscenarios
import testtools

from nova_docker import guest
from tests import support

with warnings.catch_warnings():
    # Deprecated in 3.11, still the one stdlib way to check a crypt hash.
    warnings.simplefilter('ignore', DeprecationWarning)
    import crypt

PASSWD = ('root:x:0:0:root:/root:/bin/sh\n'
          '# a comment\n'
          'broken:line\n'
          'app:x:1000:1001::/home/app:/bin/sh\n'
          'nohome:x:1002:1002:::/bin/sh\n')


class ImageUserTest(testscenarios.WithScenarios, testtools.TestCase):
    scenarios = [
        ('no USER', dict(config={}, expect='root')),
        ('no config', dict(config=None, expect='root')),
        ('name', dict(config={'User': 'app'}, expect='app')),
        ('uid:gid', dict(config={'User': '1000:1001'}, expect='1000')),
    ]

    def test_user(self):
        self.assertEqual(self.expect, guest.image_user(self.config))


class FindAccountTest(testscenarios.WithScenarios, testtools.TestCase):
    scenarios = [
        ('root', dict(user='root',
                      expect=guest.Account('root', 0, 0, '/root'))),
        ('by uid', dict(user='1000',
                        expect=guest.Account('app', 1000, 1001,
                                             '/home/app'))),
        ('empty home is /', dict(user='nohome',
                                 expect=guest.Account('nohome', 1002, 1002,
                                                      '/'))),
        ('missing', dict(user='nobody', expect=None)),
        ('malformed line', dict(user='broken', expect=None)),
    ]

    def test_find(self):
        self.assertEqual(self.expect, guest.find_account(PASSWD, self.user))


class WithKeyTest(testscenarios.WithScenarios, testtools.TestCase):
    scenarios = [
        ('empty', dict(existing='', expect='ssh-ed25519 K\n')),
        ('appended', dict(existing='ssh-rsa OLD\n',
                          expect='ssh-rsa OLD\nssh-ed25519 K\n')),
        ('already there', dict(existing='ssh-ed25519 K\n',
                               expect='ssh-ed25519 K\n')),
        ('already there, no newline', dict(existing='ssh-ed25519 K',
                                           expect='ssh-ed25519 K\n')),
    ]

    def test_with_key(self):
        self.assertEqual(self.expect,
                         guest.with_key(self.existing, 'ssh-ed25519 K\n'))


SHADOW = ('root:*:19000:0:99999:7:::\n'
          'app:!:19000:0:99999:7:::\n')


class WithPasswordTest(testscenarios.WithScenarios, testtools.TestCase):
    scenarios = [
        ('shadow: hash and day of change', dict(
            text=SHADOW, name='app', day=20429,
            expect='root:*:19000:0:99999:7:::\n'
                   'app:H:20429:0:99999:7:::\n')),
        ('passwd: the hash only', dict(
            text=PASSWD, name='root', day=None,
            expect=PASSWD.replace('root:x:', 'root:H:', 1))),
        ('short shadow entry', dict(text='root:', name='root', day=1,
                                    expect='root:H')),
        ('no entry for the user', dict(text=SHADOW, name='nobody', day=1,
                                       expect=None)),
        ('a name that is only a prefix', dict(text=SHADOW, name='ap',
                                              day=1, expect=None)),
    ]

    def test_with_password(self):
        self.assertEqual(self.expect, guest.with_password(
            self.text, self.name, 'H', self.day))


class HashedPasswordTest(testtools.TestCase):

    def test_sha512_crypt_with_a_fresh_salt(self):
        first = guest.hashed_password('s3cret pass')
        self.assertTrue(first.startswith('$6$'))
        self.assertEqual(first, crypt.crypt('s3cret pass', first))
        self.assertNotEqual(first, crypt.crypt('other', first))
        self.assertNotEqual(first, guest.hashed_password('s3cret pass'))


class ArchiveTest(testtools.TestCase):

    def members(self, data):
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            return {m.name: (m.mode, m.uid, m.gid, m.isdir(),
                             tar.extractfile(m).read() if m.isfile()
                             else None)
                    for m in tar.getmembers()}

    def test_keys_owned_by_the_user_with_ssh_modes(self):
        account = guest.Account('app', 1000, 1001, '/home/app')
        self.assertEqual(
            {'home/app/.ssh': (0o700, 1000, 1001, True, None),
             'home/app/.ssh/authorized_keys': (0o600, 1000, 1001, False,
                                               b'ssh-ed25519 K\n')},
            self.members(guest.keys_archive(account, 'ssh-ed25519 K\n')))

    def test_replaced_file_keeps_mode_and_owner(self):
        shadow = tarfile.TarInfo('etc/shadow')
        # As the engine's archive has it: the file type's bits too.
        shadow.mode, shadow.uid, shadow.gid = 0o100640, 0, 42
        self.assertEqual(
            {'etc/shadow': (0o640, 0, 42, False, b'root:H:1::::::\n')},
            self.members(guest.file_archive('/etc/shadow',
                                            b'root:H:1::::::\n', shadow)))

    def test_user_data_script(self):
        script = b'#!/bin/sh\necho hi\n'
        self.assertEqual(
            script,
            guest.user_data_script(base64.b64encode(script).decode()))
        self.assertIsNone(guest.user_data_script(
            base64.b64encode(b'#cloud-config\n').decode()))
        self.assertIsNone(guest.user_data_script(None))
        self.assertEqual(
            {'var/lib/nova-docker/user-data': (0o700, 0, 0, False, script)},
            self.members(guest.script_archive(script)))


class CheckedPathsTest(testscenarios.WithScenarios, testtools.TestCase):
    scenarios = [
        ('absolute', dict(path='/etc/motd', expect='/etc/motd')),
        ('normalised', dict(path='//etc/./motd', expect='/etc/motd')),
        ('relative to /', dict(path='etc/motd', expect='/etc/motd')),
        ('climbs', dict(path='/etc/../../x', expect="contains '..'")),
        ('climbs at the end', dict(path='/etc/..', expect="contains '..'")),
        ('root itself', dict(path='/', expect='names no file')),
    ]

    def test_path(self):
        instance = support.make_instance()
        try:
            paths = guest.checked_paths(instance, [(self.path, b'x')])
        except nova_exception.BuildAbortException as e:
            self.assertIn('injected file %s refused: it %s' % (
                self.path, self.expect), str(e))
            self.assertIn(instance.uuid, str(e))
        else:
            self.assertEqual([self.expect], paths)
