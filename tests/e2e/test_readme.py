"""The README's first command block, run as written.

It is read from README.md (never copied here), so what a newcomer pastes is
what this test runs: ``tools/nova-docker-aio up`` against the all-in-one
the suite already runs (a re-run of ``up`` changes nothing), the openrc,
``openstack server create``, the console log and a Heat stack from the
sample template. The server and the stack it makes are deleted again.
"""

import os
import re
import subprocess
import unittest

from tests.e2e.test_cli import ROOT, STATE, osc
from tests.e2e.test_network import SETTINGS
from nova_docker.aio import layout as layout_mod

# The block's server and stack: their names are what the README types.
DEMO = 'demo'
DEMO_STACK = 'demo-stack'


def readme_first_block():
    """The shell lines of part 1 of README.md's first ``sh`` block."""
    with open(os.path.join(ROOT, 'README.md')) as f:
        block = re.search(r'^```sh\n(.*?)^```', f.read(), re.S | re.M)[1]
    part1 = block.split('\n# 2.')[0]
    return [line for line in part1.splitlines()
            if line.strip() and not line.lstrip().startswith('#')]


def demo_servers():
    return {s['ID'] for s in osc('server', 'list', '--name', '^%s$' % DEMO,
                                 '-f', 'json')}


def demo_stack_exists():
    return DEMO_STACK in [s['Stack Name'] for s in osc(
        'stack', 'list', '-f', 'json')]


class TestReadme(unittest.TestCase):

    def setUp(self):
        if STATE != layout_mod.DEFAULT_STATE_DIR:
            self.skipTest('the README names %s; this all-in-one lives in %s'
                          % (layout_mod.DEFAULT_STATE_DIR, STATE))
        if SETTINGS.get('network') != 'ovs' or not SETTINGS.get('heat', True):
            self.skipTest('the block boots on private and makes a stack: it '
                          'needs the default all-in-one (networked, Heat)')
        if demo_servers():
            self.skipTest('a server named %r exists already: the block\'s '
                          '"console log show %s" would be ambiguous'
                          % (DEMO, DEMO))
        if demo_stack_exists():
            self.skipTest('a stack named %r exists already' % DEMO_STACK)

    def test_first_block_as_written(self):
        lines = readme_first_block()
        self.assertIn('source /var/lib/nova-docker-aio/openrc', lines)
        self.addCleanup(self._delete_demo)
        self.addCleanup(osc, 'stack', 'delete', '--yes', '--wait',
                        DEMO_STACK, check=False)
        # A fresh login shell's environment: nothing from the test's venv
        # (no openstack on PATH, no OS_* variables).
        env = {'PATH': '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:'
                       '/sbin:/bin',
               'HOME': os.environ.get('HOME', '/root'), 'LANG': 'C.UTF-8'}
        proc = subprocess.run(
            ['bash', '-e', '-c', '\n'.join(lines)], cwd=ROOT, env=env,
            text=True, capture_output=True, timeout=600)
        self.assertEqual(0, proc.returncode,
                         'README block 1 failed:\n%s\n%s' % (
                             proc.stdout[-3000:], proc.stderr[-3000:]))
        self.assertIn('Try:', proc.stdout)  # up ran to its end
        # The last line's output: the busybox workload's greeting.
        self.assertIn('nova-docker-aio: hello from', proc.stdout)
        servers = demo_servers()
        self.assertEqual(1, len(servers), servers)
        shown = osc('server', 'show', servers.pop(), '-f', 'json')
        self.assertEqual('ACTIVE', shown['status'])
        self.assertIn('private', shown['addresses'])
        stack = osc('stack', 'show', DEMO_STACK, '-f', 'json')
        self.assertEqual('CREATE_COMPLETE', stack['stack_status'])
        # Nothing on stderr a newcomer would stumble over (a client plugin
        # that fails to load prints on every command).
        self.assertNotIn('Could not load', proc.stderr)

    def _delete_demo(self):
        for sid in demo_servers():
            osc('server', 'delete', '--wait', sid, check=False)
