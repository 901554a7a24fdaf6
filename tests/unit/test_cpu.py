"""The boot benchmark's CPU split: a service's CPU lands on its row, the
benchmark's own on its row, and only what was spent inside the block."""

import os
import shutil
import signal
import sys
import tempfile
import time
import unittest

from benchmarks import cpu
from nova_docker.aio import layout as layout_mod
from nova_docker.aio import services

# Half a second of CPU, then as idle as a service between requests.
SPIN = 'import time\nt = time.process_time()\n' \
       'while time.process_time() - t < 0.5: pass\ntime.sleep(60)\n'


class TestCpuSplit(unittest.TestCase):

    def setUp(self):
        state = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, state)
        self.layout = layout_mod.Layout(state)
        self.layout.ensure_dirs()

    def test_a_services_cpu_is_on_its_row(self):
        with cpu.CpuSplit(self.layout, ['spinner']) as split:
            spinner = services.start(self.layout, 'spinner',
                                     [sys.executable, '-c', SPIN])
            t = time.process_time()
            while time.process_time() - t < 0.3:
                pass
            self.addCleanup(os.waitpid, spinner, 0)
            self.addCleanup(os.kill, spinner, signal.SIGKILL)
            while cpu._cpu_ticks(spinner) < 0.5 * cpu.TICK:
                time.sleep(0.05)
        self.assertGreaterEqual(split.seconds['spinner'], 0.5)
        self.assertGreaterEqual(split.seconds['benchmark client'], 0.25)
        # The host was busy at least with both (its ticks, give or take).
        self.assertGreaterEqual(split.busy, 0.7)

    def test_a_process_started_before_counts_only_what_it_spent_inside(self):
        t = time.process_time()
        while time.process_time() - t < 0.3:
            pass
        with cpu.CpuSplit(self.layout) as split:
            pass
        self.assertLess(split.seconds.get('benchmark client', 0.0), 0.1)
