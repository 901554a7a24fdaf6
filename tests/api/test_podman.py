"""The server lifecycle through Nova's API on Podman: the compute host's
``[docker] api_url`` is the socket of ``podman system service`` (started
by tools/podman-engine.sh), and the same tests as on Docker must hold,
but for what README's Podman section says it lacks."""

import os

from nova.compute import power_state

from tests.api import base
from tests.api import test_events
from tests.api import test_images
from tests.api import test_lifecycle
from tests.api import test_migration
from tests.api import test_network
from tests.api import test_rescue
from tests import support


class PodmanEngine(object):
    """This compute host drives the test command's Podman engine (checked:
    a test that silently ran on Docker would prove nothing)."""

    def setUp(self):
        self.engine_url = support.podman_engine_url(self)
        super().setUp()
        components = [c['Name'] for c in self.docker.version()['Components']]
        self.assertIn('Podman Engine', components)


class PodmanLifecycleTest(PodmanEngine, test_lifecycle.LifecycleTest):
    """Boot from a docker save archive, limits, stop/start, reboots,
    pause, delete leaving nothing, console log, resources."""


class PodmanSnapshotTest(PodmanEngine, test_images.SnapshotTest):
    """Snapshot (commit, save to Glance), boot from it; shelve-offload
    and unshelve."""


class PodmanNetworkTest(PodmanEngine, test_network.NetworkTestBase):
    """Ports on Open vSwitch: NICs, addresses, routes, hostname, traffic
    across stop/start and reboots, nothing left after delete."""

    test_two_servers_on_one_network_ping_after_reboots = (
        test_network.NetworkTest.
        test_two_servers_on_one_network_ping_after_reboots)


class PodmanNamespaceLostTest(PodmanEngine, test_network.NetworkTestBase):
    """The infra container's namespace gone (its process killed, as by a
    host reboot): starting the server makes a new one and restarts the
    workload into it. (The infra container itself cannot be lost on
    Podman: it refuses to remove a namespace owner while a container
    joins it, so Engine.rejoin, Docker's repair for that, never runs.)"""

    test_namespace_lost_with_the_host_is_rebuilt_on_start = (
        test_network.NetworkTest.
        test_namespace_lost_with_the_host_is_rebuilt_on_start)


class PodmanResizeTest(PodmanEngine, test_migration.SameHostResizeTest):
    """Resize on one Podman host: the container made again with the new
    flavor and the same files; confirm, revert, a stopped server."""


class PodmanEventsTest(PodmanEngine, test_events.EngineEventsTest):
    """The power state follows Podman's event stream: kills and exits
    behind Nova's back; Nova's own reboots and stop/start."""

    def test_oom_killed_workload_shows_shutoff_crashed(self):
        # Podman 4.3 reports neither an 'oom' event nor State.OOMKilled:
        # its conmon (2.1.6) gets the kernel's OOM notice but writes its
        # marker file into its working directory, where Podman does not
        # look (README: Podman). The server is SHUTOFF, but SHUTDOWN, not
        # CRASHED. When Podman reports it, this fails: use Docker's test.
        image_id = self.create_docker_image(
            os_command_line=test_events.TRIGGERED)
        server = self.boot(image_id, self.create_flavor(memory_mb=16))

        self.exec_in(server, 'mkdir', '/tmp/oom', '/tmp/go')
        server = self.wait_for_status(server, 'SHUTOFF')
        self.assertFalse(self.container(server)['State']['OOMKilled'])
        self.assertEqual(power_state.SHUTDOWN,
                         server['OS-EXT-STS:power_state'])


class PodmanRescueTest(PodmanEngine, test_rescue.RescueTestBase):
    """Rescue on Podman: its overlay layers mount the same way; the
    address, the password and the fixed file are as on Docker."""

    test_rescue_with_own_image_fixes_a_file_on_the_same_address = (
        test_rescue.RescueTest.
        test_rescue_with_own_image_fixes_a_file_on_the_same_address)


def exec_monitors(container_id):
    """Process ids of the conmon processes of the container's exec
    sessions."""
    pids = []
    for pid in filter(str.isdigit, os.listdir('/proc')):
        try:
            with open('/proc/%s/cmdline' % pid, 'rb') as f:
                argv = f.read().split(b'\0')
        except OSError:
            continue
        if (argv[0].endswith(b'conmon') and b'--exec-attach' in argv and
                container_id.encode() in argv):
            pids.append(int(pid))
    return pids


class PodmanExecTest(PodmanEngine, base.DockerAPITestCase):

    def test_exec_sessions_leave_no_monitor_behind(self):
        # Podman's conmon waits [engine] exit_command_delay after an exec
        # before cleaning the session up (300 s by default, as Docker
        # keeps sessions five minutes); the test engine sets 10 s, as
        # README tells operators. The driver reads an exec's exit code at
        # once, so the short delay loses nothing.
        server = self.boot(self.create_docker_image())
        container_id = self.container(server)['Id']
        self.assertEqual('ok\n', self.exec_in(server, 'echo', 'ok'))
        support.wait_for(lambda: not exec_monitors(container_id), 60,
                         'the exec session monitors (conmon) gone')
