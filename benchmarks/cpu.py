"""Where the CPU goes during a stretch of a benchmark, from /proc.

``CpuSplit`` is a context manager: on exit it holds the CPU seconds each
part of the host spent inside the ``with`` block (user + system, reaped
children included), and the host's whole busy time from /proc/stat. The
parts: each all-in-one service (its process group, as in memory.py), its
privsep helpers apart; dockerd; containerd; the shims with the servers'
containers; Open vSwitch; the benchmark itself. What is left of the busy
time (processes that came and went unreaped by anything counted, the
kernel's own work) is its own row, so the rows add up to the host's
(a process reaping an older child adds all of the child's CPU, which can
make them a little more).
"""

import os
import time

from benchmarks import memory

TICK = os.sysconf('SC_CLK_TCK')
OPEN_VSWITCH = ('ovs-vswitchd', 'ovsdb-server')
UNACCOUNTED = 'other (exited processes, kernel)'


def _cpu_ticks(pid):
    """utime + stime + cutime + cstime of one process; None once gone."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            fields = f.read().rsplit(')', 1)[1].split()
    except (OSError, IndexError):
        return None
    return sum(int(v) for v in fields[11:15])


def _busy_ticks():
    with open('/proc/stat') as f:
        cpu = [int(v) for v in f.readline().split()[1:]]
    idle, iowait = cpu[3], cpu[4]
    # guest time is already in user: the first eight fields are the sum.
    return sum(cpu[:8]) - idle - iowait


def _part(pid, services, engine):
    """Which part of the host a process belongs to."""
    if pid == os.getpid():
        return 'benchmark client'
    name = memory.comm(pid)
    if pid in engine:
        return name if name in ('dockerd', 'containerd') else (
            'shims and containers')
    if name in OPEN_VSWITCH:
        return 'Open vSwitch'
    try:
        service = services.get(os.getpgid(pid))
    except OSError:
        return UNACCOUNTED
    if service is None:
        return UNACCOUNTED
    if 'privsep-helper' in memory.cmdline(pid):
        return service + ' privsep helpers'
    return service


class CpuSplit(object):
    """CPU seconds per part of the host inside a ``with`` block."""

    def __init__(self, layout, extra_services=()):
        self.layout = layout
        self.extra_services = extra_services
        self.seconds = {}
        self.wall = self.busy = 0.0

    def _sample(self):
        return {pid: ticks for pid, ticks in (
            (pid, _cpu_ticks(pid)) for pid in memory.pids())
            if ticks is not None}

    def __enter__(self):
        self._started = time.monotonic()
        self._busy = _busy_ticks()
        self._ticks = self._sample()
        return self

    def __exit__(self, *exc):
        ticks = self._sample()
        self.busy = (_busy_ticks() - self._busy) / TICK
        self.wall = time.monotonic() - self._started
        services = memory.service_groups(self.layout, self.extra_services)
        engine = memory.engine_pids()
        seconds = {}
        for pid, now in ticks.items():
            spent = now - self._ticks.get(pid, 0)
            if spent > 0:
                part = _part(pid, services, engine)
                seconds[part] = seconds.get(part, 0.0) + spent / TICK
        seconds[UNACCOUNTED] = seconds.get(UNACCOUNTED, 0.0) + max(
            0.0, self.busy - sum(seconds.values()))
        self.seconds = seconds


def print_splits(title, splits):
    """One column per (label, CpuSplit), a row per part with CPU seconds,
    largest first; the wall time and the CPU the host's cores offered."""
    labels = [label for label, _ in splits]
    parts = {}
    for _, split in splits:
        for part, secs in split.seconds.items():
            parts[part] = parts.get(part, 0.0) + secs
    width = max(12, *(len(label) for label in labels))
    fmt = '  %-44s' + (' %' + str(width) + 's') * len(splits)
    print('\n' + title)
    print(fmt % (('CPU seconds',) + tuple(labels)))
    for part in sorted(parts, key=lambda p: -parts[p]):
        print(fmt % ((part,) + tuple(
            '%.2f' % split.seconds.get(part, 0.0) for _, split in splits)))
    print(fmt % (('host busy (/proc/stat)',) + tuple(
        '%.2f' % split.busy for _, split in splits)))
    cores = os.cpu_count()
    print(fmt % (('wall x %d cores' % cores,) + tuple(
        '%.2f' % (split.wall * cores) for _, split in splits)))
