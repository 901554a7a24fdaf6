"""What a newcomer types: the launchers that need root, the openrc and the
``openstack`` launcher it puts on PATH.

A fresh Debian 12 as root has no sudo; a user with sudo has no root. Both
must be able to paste the README's commands: root runs the launchers as
they are, anyone else goes through sudo (a recording stand-in here: the
test proves the re-exec, not sudo itself).
"""

import os
import shutil
import subprocess
import tempfile
import unittest
import unittest.mock

from nova_docker.aio import layout as layout_mod
from nova_docker.aio import userenv

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
NOBODY = 65534


def _as_nobody(argv, path_first, cwd):
    return subprocess.run(
        ['setpriv', '--reuid=%d' % NOBODY, '--regid=%d' % NOBODY,
         '--clear-groups', '--'] + argv, cwd=cwd, capture_output=True,
        text=True, timeout=30,
        env={'PATH': path_first + ':/usr/sbin:/usr/bin:/sbin:/bin'})


@unittest.skipUnless(os.geteuid() == 0, 'needs root to become another user')
class TestLaunchersUseSudoOnlyWhenNotRoot(unittest.TestCase):

    def setUp(self):
        self.dir = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.dir)
        os.chmod(self.dir, 0o777)
        self.record = os.path.join(self.dir, 'sudo-argv')
        sudo = os.path.join(self.dir, 'sudo')
        with open(sudo, 'w') as f:
            f.write('#!/bin/sh\nprintf "%%s\\n" "$@" > %s\n' % self.record)
        os.chmod(sudo, 0o755)

    def sudo_argv(self):
        with open(self.record) as f:
            return f.read().splitlines()

    def test_aio_launcher_reexecs_itself_through_sudo(self):
        proc = _as_nobody(['tools/nova-docker-aio', 'up', '--network', 'ovs'],
                          self.dir, ROOT)
        self.assertEqual(0, proc.returncode, proc.stderr)
        self.assertEqual(['--', os.path.join(ROOT, 'tools', 'nova-docker-aio'),
                          'up', '--network', 'ovs'], self.sudo_argv())

    def test_test_command_reexecs_itself_through_sudo(self):
        proc = _as_nobody(['tools/run-tests.sh', 'unit'], self.dir, ROOT)
        self.assertEqual(0, proc.returncode, proc.stderr)
        self.assertEqual(['--', os.path.join(ROOT, 'tools', 'run-tests.sh'),
                          'unit'], self.sudo_argv())

    def test_root_runs_the_aio_launcher_without_sudo(self):
        # sudo is not even on PATH (a fresh Debian): --help must still work.
        proc = subprocess.run(
            [os.path.join(ROOT, 'tools', 'nova-docker-aio'), '--help'],
            capture_output=True, text=True, timeout=30, cwd=self.dir,
            env={'PATH': '/usr/bin:/bin'})
        self.assertEqual(0, proc.returncode, proc.stderr)
        self.assertIn('nova-docker-aio', proc.stdout)
        self.assertFalse(os.path.exists(self.record))


class TestOpenrc(unittest.TestCase):

    def setUp(self):
        self.dir = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.dir)
        self.layout = layout_mod.Layout(self.dir)

    def test_openstack_on_path_without_the_venv_shadowing_python(self):
        venv_bin = os.path.join(self.layout.venv, 'bin')
        os.makedirs(venv_bin)
        fake = os.path.join(venv_bin, 'openstack')
        with open(fake, 'w') as f:
            f.write('#!/bin/sh\necho "venv client: $*"\n')
        os.chmod(fake, 0o755)
        userenv.write_launchers(self.layout)
        openrc = userenv.write_openrc(self.layout)
        out = subprocess.run(
            ['bash', '-c', 'source %s; openstack server list; '
             'command -v python3' % openrc], capture_output=True, text=True,
            env={'PATH': '/usr/bin:/bin'}, timeout=30).stdout.splitlines()
        self.assertEqual('venv client: server list', out[0])
        self.assertFalse(out[1].startswith(self.dir), out[1])

    @unittest.skipUnless(os.geteuid() == 0, 'chown needs root')
    def test_the_sudo_user_can_read_the_openrc(self):
        path = userenv.write_openrc(self.layout, (NOBODY, NOBODY))
        st = os.stat(path)
        self.assertEqual((NOBODY, 0o600), (st.st_uid, st.st_mode & 0o777))

    def test_sudo_user_is_read_from_sudos_environment(self):
        env = {'SUDO_UID': '1000', 'SUDO_GID': '1001'}
        with unittest.mock.patch.dict(os.environ, env):
            self.assertEqual((1000, 1001), userenv.sudo_user())
        with unittest.mock.patch.dict(os.environ, {'SUDO_UID': '0',
                                                   'SUDO_GID': '0'}):
            self.assertIsNone(userenv.sudo_user())
