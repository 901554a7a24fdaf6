"""Engine statistics -> Nova's server diagnostics, by table."""

import datetime

from nova.compute import power_state
from nova import objects
import testscenarios
import testtools

from nova_docker import diagnostics

objects.register_all()

NOW = datetime.datetime(2026, 12, 6, 5, 0, 0, tzinfo=datetime.timezone.utc)
RUNNING = {'Running': True, 'StartedAt': '2026-12-06T04:58:59.999999999Z'}
STOPPED = {'Running': False, 'StartedAt': '2026-12-06T04:58:59.9Z'}
# A cgroup v1 sample, as docker.io 20.10 gives it (trimmed).
STATS = {
    'cpu_stats': {'cpu_usage': {'total_usage': 28854220}},
    'memory_stats': {'usage': 5 * 2 ** 20 + 40960, 'limit': 64 * 2 ** 20,
                     'stats': {'cache': 40960}},
    'blkio_stats': {
        'io_service_bytes_recursive': [
            {'major': 8, 'minor': 0, 'op': 'Read', 'value': 4096},
            {'major': 8, 'minor': 0, 'op': 'Write', 'value': 8192},
            {'major': 8, 'minor': 16, 'op': 'Write', 'value': 1},
            {'major': 8, 'minor': 0, 'op': 'Total', 'value': 12289}],
        'io_serviced_recursive': [
            {'major': 8, 'minor': 0, 'op': 'Read', 'value': 1},
            {'major': 8, 'minor': 0, 'op': 'Write', 'value': 2}]},
}
HOST_SIDE = {'rx_bytes': 10, 'rx_packets': 1, 'rx_errors': 0,
             'rx_dropped': 2, 'tx_bytes': 300, 'tx_packets': 3,
             'tx_errors': 4, 'tx_dropped': 5}


class UptimeTest(testscenarios.WithScenarios, testtools.TestCase):
    scenarios = [
        ('running', dict(state=RUNNING, expect=60)),
        ('stopped', dict(state=STOPPED, expect=None)),
        ('never started', dict(state={'Running': False,
                                      'StartedAt': '0001-01-01T00:00:00Z'},
                               expect=None)),
        ('clock behind', dict(state={'Running': True,
                                     'StartedAt': '2026-12-06T05:00:09Z'},
                              expect=0)),
    ]

    def test_uptime(self):
        self.assertEqual(self.expect, diagnostics.uptime(self.state, NOW))


class TranslationTest(testscenarios.WithScenarios, testtools.TestCase):
    scenarios = [
        ('cpu time', dict(func=diagnostics.cpu_time, stats=STATS,
                          expect=28854220)),
        ('no cpu stats', dict(func=diagnostics.cpu_time, stats={},
                              expect=None)),
        ('memory without page cache', dict(
            func=diagnostics.memory, stats=STATS,
            expect=(64 * 2 ** 20, 5 * 2 ** 20))),
        ('no memory stats', dict(func=diagnostics.memory, stats={},
                                 expect=(None, None))),
        ('block I/O over devices, totals left out', dict(
            func=diagnostics.block_io, stats=STATS,
            expect={'read_bytes': 4096, 'write_bytes': 8193,
                    'read_requests': 1, 'write_requests': 2})),
        ('no block I/O (engine gives empty lists)', dict(
            func=diagnostics.block_io,
            stats={'blkio_stats': {'io_service_bytes_recursive': None}},
            expect={'read_bytes': 0, 'write_bytes': 0, 'read_requests': 0,
                    'write_requests': 0})),
    ]

    def test_translate(self):
        self.assertEqual(self.expect, self.func(self.stats))


class InstanceDiagnosticsTest(testtools.TestCase):

    def test_whole_object(self):
        diags = diagnostics.instance_diagnostics(
            power_state.RUNNING, RUNNING, STATS, NOW,
            [('fa:16:3e:00:00:01', HOST_SIDE)], config_drive=True)
        self.assertEqual('running', diags.state)
        self.assertEqual('docker', diags.hypervisor)
        self.assertFalse(diags.obj_attr_is_set('driver'))
        self.assertEqual(60, diags.uptime)
        self.assertTrue(diags.config_drive)
        self.assertEqual((1, 1, 1), (diags.num_cpus, diags.num_nics,
                                     diags.num_disks))
        self.assertEqual(28854220, diags.cpu_details[0].time)
        self.assertEqual((64, 5), (diags.memory_details.maximum,
                                   diags.memory_details.used))
        nic = diags.nic_details[0]
        # The host end receives what the guest sends.
        self.assertEqual(('fa:16:3e:00:00:01', 300, 3, 4, 5, 10, 1, 0, 2),
                         (nic.mac_address, nic.rx_octets, nic.rx_packets,
                          nic.rx_errors, nic.rx_drop, nic.tx_octets,
                          nic.tx_packets, nic.tx_errors, nic.tx_drop))
        self.assertEqual(8193, diags.disk_details[0].write_bytes)

        legacy = diagnostics.legacy(diags)
        self.assertEqual(28854220, legacy['cpu0_time'])
        self.assertEqual(64, legacy['memory_mb'])
        self.assertEqual(300, legacy['eth0_rx'])
        self.assertEqual(10, legacy['eth0_tx'])
        self.assertEqual(4096, legacy['disk_read'])

    def test_unplugged_port_has_no_counters(self):
        diags = diagnostics.instance_diagnostics(
            power_state.SHUTDOWN, STOPPED, {}, NOW,
            [('fa:16:3e:00:00:02', {})], config_drive=False)
        self.assertEqual('shutdown', diags.state)
        self.assertIsNone(diags.uptime)
        self.assertIsNone(diags.nic_details[0].rx_octets)
        self.assertIsNone(diags.memory_details.maximum)
