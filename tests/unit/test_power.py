"""Engine container state -> Nova power state, by table."""

from nova.compute import power_state
import testscenarios
import testtools

from nova_docker import power
from tests import support


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


class ReportedToNovaTest(testscenarios.WithScenarios, testtools.TestCase):
    """An OOM kill reads SHUTDOWN while Nova still runs the server (so that
    its lifecycle-event handler stops it), CRASHED from then on; a listing
    (no OOM flag) keeps the crash Nova recorded."""
    scenarios = [
        ('oom, Nova runs it', dict(
            status='exited', oom=True, vm_state='active', task=None,
            db=power_state.RUNNING, expect=power_state.SHUTDOWN)),
        ('oom, Nova powering off', dict(
            status='exited', oom=True, vm_state='active',
            task='powering-off', db=power_state.SHUTDOWN,
            expect=power_state.CRASHED)),
        ('oom, stopped', dict(
            status='exited', oom=True, vm_state='stopped', task=None,
            db=power_state.CRASHED, expect=power_state.CRASHED)),
        ('listing, crash recorded', dict(
            status='exited', oom=None, vm_state='stopped', task=None,
            db=power_state.CRASHED, expect=power_state.CRASHED)),
        ('listing, shut down', dict(
            status='exited', oom=None, vm_state='active', task=None,
            db=power_state.RUNNING, expect=power_state.SHUTDOWN)),
        ('listing, started again', dict(
            status='running', oom=None, vm_state='stopped', task=None,
            db=power_state.CRASHED, expect=power_state.RUNNING)),
    ]

    def test_reported(self):
        instance = support.make_instance(vm_state=self.vm_state,
                                         task_state=self.task,
                                         power_state=self.db)
        self.assertEqual(self.expect, power.for_instance(
            self.status, self.oom, instance))
