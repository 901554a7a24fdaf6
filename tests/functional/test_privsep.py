"""The privileged network functions through a real privsep helper, on
namespaces and a Linux bridge the tests create and remove."""

import os

import fixtures
import testtools

from nova_docker import fsmount
from nova_docker import privsep
from tests import netsupport


class PrivsepNetTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.useFixture(netsupport.PrivsepDaemon())
        self.bridge = self.useFixture(netsupport.LinuxBridge()).name

    def plug(self, ns, addresses, routes=(), mtu=1400):
        host = netsupport.unique_name('tap')
        peer = netsupport.unique_name('nsd')
        privsep.add_veth(host, peer, mtu)
        self.addCleanup(privsep.delete_link, host)
        privsep.set_master(host, self.bridge)
        privsep.move_into_netns(peer, ns.owner)
        privsep.configure_in_netns(
            ns.owner, peer, 'eth0', 'fa:16:3e:00:00:%02x' % len(addresses),
            mtu, [list(a) for a in addresses], [list(r) for r in routes])
        return host

    def test_two_namespaces_on_a_bridge_ping_v4_and_v6(self):
        a = self.useFixture(netsupport.Namespace())
        b = self.useFixture(netsupport.Namespace())
        self.plug(a, [('10.77.0.1', 24), ('fd77::1', 64)],
                  [('0.0.0.0/0', '10.77.0.254')])
        host_b = self.plug(b, [('10.77.0.2', 24), ('fd77::2', 64),
                               ('fd77::22', 64)])

        for address in ('10.77.0.2', 'fd77::2', 'fd77::22'):
            result = netsupport.ping(a.pid, address)
            self.assertEqual(0, result.returncode, result.stdout +
                             result.stderr)
        self.assertEqual(0, netsupport.ping(b.pid, '10.77.0.1').returncode)

        link = a.run('ip', '-o', 'link', 'show', 'eth0').stdout
        self.assertIn('mtu 1400', link)
        self.assertIn('fa:16:3e:00:00:02', link)
        self.assertIn('UP', a.run('ip', '-o', 'link', 'show', 'lo').stdout)
        self.assertIn('default via 10.77.0.254',
                      a.run('ip', 'route').stdout)
        # The namespace sees only its own devices, never the host's.
        self.assertEqual(['lo', 'eth0'], netsupport.netns_links(a.pid))
        self.assertEqual(
            [['lo', '00:00:00:00:00:00'], ['eth0', 'fa:16:3e:00:00:02']],
            [list(link) for link in privsep.netns_links(a.owner)])

        # Deleting inside the namespace takes the host end with it.
        self.assertTrue(privsep.delete_in_netns(b.owner, 'eth0'))
        self.assertFalse(privsep.link_exists(host_b))
        self.assertFalse(privsep.delete_in_netns(b.owner, 'eth0'))

    def test_configure_twice_is_harmless(self):
        ns = self.useFixture(netsupport.Namespace())
        host = netsupport.unique_name('tap')
        peer = netsupport.unique_name('nsd')
        privsep.add_veth(host, peer)
        self.addCleanup(privsep.delete_link, host)
        privsep.move_into_netns(peer, ns.owner)
        for _ in range(2):
            privsep.configure_in_netns(ns.owner, peer, 'eth0',
                                       'fa:16:3e:00:00:01', None,
                                       [['10.78.0.1', 24]], [])
        self.assertIn('10.78.0.1/24', ns.run('ip', 'addr').stdout)

    def test_delete_link_is_idempotent_and_namespace_removal_frees(self):
        ns = self.useFixture(netsupport.Namespace())
        host = netsupport.unique_name('tap')
        peer = netsupport.unique_name('nsd')
        self.addCleanup(privsep.delete_link, host)
        privsep.add_veth(host, peer)
        privsep.move_into_netns(peer, ns.owner)
        self.assertTrue(privsep.delete_link(host))
        self.assertFalse(privsep.delete_link(host))
        self.assertNotIn(host, netsupport.host_links())
        self.assertEqual(['lo'], netsupport.netns_links(ns.pid))

    def test_only_port_devices_are_deleted(self):
        # A name no device has: a broken check deletes nothing here.
        self.assertRaises(privsep.NotOurs, privsep.delete_link,
                          netsupport.unique_name('br'))

    def test_add_veth_replaces_a_stale_pair(self):
        host = netsupport.unique_name('tap')
        peer = netsupport.unique_name('nsd')
        self.addCleanup(privsep.delete_link, host)
        privsep.add_veth(host, peer)
        privsep.add_veth(host, peer)
        self.assertTrue(privsep.link_exists(peer))

    def test_host_namespace_is_refused(self):
        host = netsupport.unique_name('tap')
        peer = netsupport.unique_name('nsd')
        self.addCleanup(privsep.delete_link, host)
        privsep.add_veth(host, peer)
        # A container of the host's network namespace: its own, but never
        # one to plug into.
        ns = self.useFixture(netsupport.Namespace(network_mode='host'))
        self.assertRaises(privsep.HostNamespace,
                          privsep.move_into_netns, peer, ns.owner)
        self.assertRaises(privsep.HostNamespace,
                          privsep.configure_in_netns, ns.owner, peer, 'eth0',
                          'fa:16:3e:00:00:01', None, [], [])
        # Nor any process that is not a container's (this test's).
        self.assertRaises(privsep.NotOurs, privsep.move_into_netns, peer,
                          [os.getpid(), ns.container.id])
        self.assertTrue(privsep.link_exists(peer))

    def test_a_pid_of_another_container_is_refused(self):
        # What a reused pid looks like: the pid is some other container's.
        a = self.useFixture(netsupport.Namespace())
        b = self.useFixture(netsupport.Namespace())
        host = netsupport.unique_name('tap')
        peer = netsupport.unique_name('nsd')
        self.addCleanup(privsep.delete_link, host)
        privsep.add_veth(host, peer)
        self.assertRaises(privsep.NotOurs, privsep.move_into_netns, peer,
                          [a.pid, b.container.id])
        self.assertRaises(privsep.NotOurs, privsep.netns_links,
                          [a.pid, 'not-an-id'])
        self.assertTrue(privsep.link_exists(peer))
        self.assertEqual(['lo'], netsupport.netns_links(a.pid))

    def test_names_that_are_not_ours_are_refused(self):
        ns = self.useFixture(netsupport.Namespace())
        for call in (lambda: privsep.delete_link('lo'),
                     lambda: privsep.delete_link('docker0'),
                     lambda: privsep.link_exists('eth0'),
                     lambda: privsep.add_veth('lo', 'nsd0'),
                     lambda: privsep.move_into_netns('lo', ns.owner),
                     lambda: privsep.set_master('tap0', 'br-int'),
                     lambda: privsep.delete_in_netns(ns.owner, 'lo'),
                     lambda: privsep.configure_in_netns(
                         ns.owner, 'nsd0', 'lo', 'fa:16:3e:00:00:01', None,
                         [], [])):
            self.assertRaises(privsep.NotOurs, call)
        self.assertIn('lo', netsupport.netns_links(ns.pid))

    def test_a_tap_name_that_is_not_a_veth_is_left_alone(self):
        bridge = netsupport.unique_name('tap')
        self.useFixture(netsupport.LinuxBridge(bridge))
        self.assertRaises(privsep.NotOurs, privsep.delete_link, bridge)
        self.assertIn(bridge, netsupport.host_links())


class PrivsepRescueMountTest(testtools.TestCase):
    """The rescue mounts refuse whatever is not a rescue directory of the
    driver or not an engine's layer (the working case is tests/api's
    test_rescue, on the engine's real layers)."""

    LAYER = '/var/lib/docker/overlay2/' + 'a' * 64

    def setUp(self):
        super().setUp()
        self.useFixture(netsupport.PrivsepHelpers(privsep.fs_admin))
        self.instance_dir = os.path.join(
            os.path.realpath(self.useFixture(fixtures.TempDir()).path),
            '0b9c5b1e-7a3e-4a55-9a1f-0c4f3f6a2d11')
        self.target = os.path.join(self.instance_dir, 'rescue')
        os.makedirs(self.target)

    def test_targets_that_are_not_rescue_directories_are_refused(self):
        link = os.path.join(os.path.dirname(self.instance_dir),
                            '1b9c5b1e-7a3e-4a55-9a1f-0c4f3f6a2d11')
        os.makedirs(link)
        os.symlink('/etc', os.path.join(link, 'rescue'))
        for target in ('/etc', '/', os.path.dirname(self.target),
                       os.path.join(link, 'rescue'), self.target + '/..'):
            self.assertRaises(privsep.NotOurs, privsep.unmount, target)
            self.assertRaises(
                privsep.NotOurs, privsep.mount_overlay, target,
                [self.LAYER + '-init/diff'], self.LAYER + '/diff',
                self.LAYER + '/work')
            self.assertRaises(privsep.NotOurs, privsep.bind_btrfs_container,
                              target, '/var/lib/docker', 'a' * 64)

    def test_sources_that_are_not_engine_layers_are_refused(self):
        other = '/var/lib/docker/overlay2/' + 'b' * 64
        for lowers, upper, work in (
                (['/etc'], self.LAYER + '/diff', self.LAYER + '/work'),
                ([self.LAYER + '-init/diff'], '/tmp', self.LAYER + '/work'),
                # An option smuggled in through a path.
                ([self.LAYER + '-init/diff'],
                 self.LAYER + '/diff,lowerdir=/', self.LAYER + '/work'),
                ([self.LAYER + '-init/diff:/'], self.LAYER + '/diff',
                 self.LAYER + '/work'),
                # Upper and work of two layers.
                ([self.LAYER + '-init/diff'], self.LAYER + '/diff',
                 other + '/work')):
            self.assertRaises(privsep.NotOurs, privsep.mount_overlay,
                              self.target, lowers, upper, work)
        self.assertRaises(privsep.NotOurs, privsep.bind_btrfs_container,
                          self.target, '/var/lib/docker', '../../etc')
        self.assertFalse(os.path.ismount(self.target))

    def test_many_layers_are_checked_and_overlays_limit_refused(self):
        # More lower layers than mount(2)'s one page holds: each one is
        # still checked to be an engine layer.
        lowers = ['/var/lib/docker/overlay2/%064x/diff' % n
                  for n in range(60)]
        self.assertRaises(privsep.NotOurs, privsep.mount_overlay,
                          self.target, lowers + ['/etc'],
                          self.LAYER + '/diff', self.LAYER + '/work')
        # Beyond overlay's own limit: refused as such, nothing mounted.
        lowers = ['/var/lib/docker/overlay2/%064x/diff' % n
                  for n in range(fsmount.MAX_LOWER_LAYERS + 1)]
        error = self.assertRaises(
            privsep.TooManyLayers, privsep.mount_overlay, self.target,
            lowers, self.LAYER + '/diff', self.LAYER + '/work')
        self.assertIn('501 layers', str(error))
        self.assertFalse(os.path.ismount(self.target))
