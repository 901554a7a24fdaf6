"""Engine container state -> Nova power state, by table."""

from nova.compute import power_state
import testscenarios
import testtools

from nova_docker import power


class PowerStateTest(testscenarios.WithScenarios, testtools.TestCase):
    scenarios = [
        ('created', dict(status='created', oom=False,
                         expect=power_state.SHUTDOWN)),
        ('running', dict(status='running', oom=False,
                         expect=power_state.RUNNING)),
        ('paused', dict(status='paused', oom=False,
                        expect=power_state.PAUSED)),
        ('restarting', dict(status='restarting', oom=False,
                            expect=power_state.RUNNING)),
        ('removing', dict(status='removing', oom=False,
                          expect=power_state.NOSTATE)),
        ('exited', dict(status='exited', oom=False,
                        expect=power_state.SHUTDOWN)),
        ('exited OOM-killed', dict(status='exited', oom=True,
                                   expect=power_state.CRASHED)),
        ('dead', dict(status='dead', oom=False,
                      expect=power_state.CRASHED)),
        ('unknown', dict(status='martian', oom=False,
                         expect=power_state.NOSTATE)),
    ]

    def test_map(self):
        self.assertEqual(self.expect, power.from_engine(self.status,
                                                        self.oom))
