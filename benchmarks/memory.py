"""The all-in-one's memory per service, PSS and RSS, from /proc.

RSS counts a page shared by several processes (a gunicorn master and the
workers it forked, libraries) once per process; PSS splits it between
them, so PSS summed over processes is what the host really holds. Each
service is its process group (``up`` starts every service in its own
session); the shared engine (dockerd, containerd and the shims of the
servers' containers) is summed on a line of its own.

Run as root on the all-in-one's host, e.g. after ``python3 -m
nova_docker.aio tempest``:
  python3 benchmarks/memory.py
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))
from nova_docker.aio import cloud  # noqa: E402
from nova_docker.aio import layout as layout_mod  # noqa: E402
from nova_docker.aio import services  # noqa: E402

ENGINE = ('dockerd', 'containerd', 'containerd-shim',
          'containerd-shim-runc-v2', 'docker-init', 'docker-proxy')


def pids():
    return [int(e) for e in os.listdir('/proc') if e.isdigit()]


def pss_rss_kib(pid):
    """(PSS, RSS) of one process in KiB; (0, 0) when it is gone."""
    pss = rss = 0
    try:
        with open('/proc/%d/smaps_rollup' % pid) as f:
            for line in f:
                if line.startswith('Pss:'):
                    pss = int(line.split()[1])
                elif line.startswith('Rss:'):
                    rss = int(line.split()[1])
    except OSError:
        pass
    return pss, rss


def comm(pid):
    try:
        with open('/proc/%d/comm' % pid) as f:
            return f.read().strip()
    except OSError:
        return ''


def host_pss_kib():
    """PSS of every process on the host: what a new server really costs,
    wherever its memory lands (engine, shim, init, workload, driver)."""
    return sum(pss_rss_kib(pid)[0] for pid in pids())


def engine_pids():
    """The shared engine's processes: dockerd, its containerd, the shims
    and every process they started (the servers' containers)."""
    parents = {}
    for pid in pids():
        try:
            with open('/proc/%d/stat' % pid) as f:
                parents[pid] = int(f.read().rsplit(')', 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    roots = [pid for pid in parents if comm(pid) == 'dockerd' and
             '--host' not in cmdline(pid)]
    roots += [pid for pid in parents if comm(pid).startswith(
        'containerd-shim')]
    found = set()
    todo = list(roots)
    while todo:
        pid = todo.pop()
        if pid in found:
            continue
        found.add(pid)
        todo.extend(c for c, p in parents.items() if p == pid)
    return found


def cmdline(pid):
    try:
        with open('/proc/%d/cmdline' % pid) as f:
            return f.read()
    except OSError:
        return ''


def service_groups(layout, extra=()):
    """{process group: service} of the services ``up`` started (and of
    ``extra`` ones started with the all-in-one's pid files)."""
    groups = {}
    for name in cloud.services_of(layout) + tuple(extra):
        pid = services.read_pid(layout.pidfile(name))
        if pid:  # once: nova-scheduler runs in nova-conductor's process
            groups.setdefault(pid, name)
    return groups


def per_service(layout):
    """{service: (PSS KiB, RSS KiB, processes)} of the services ``up``
    started, each its whole process group."""
    groups = service_groups(layout)
    sums = {name: [0, 0, 0] for name in groups.values()}
    for pid in pids():
        try:
            name = groups.get(os.getpgid(pid))
        except OSError:
            continue
        if name:
            pss, rss = pss_rss_kib(pid)
            sums[name][0] += pss
            sums[name][1] += rss
            sums[name][2] += 1
    return {name: tuple(v) for name, v in sums.items()}


def print_table(layout):
    rows = per_service(layout)
    fmt = '%-26s %5s %9s %9s'
    print(fmt % ('service', 'procs', 'PSS MiB', 'RSS MiB'))
    for name, (pss, rss, n) in sorted(rows.items(), key=lambda r: -r[1][0]):
        print(fmt % (name, n, '%.0f' % (pss / 1024), '%.0f' % (rss / 1024)))
    pss = sum(r[0] for r in rows.values())
    rss = sum(r[1] for r in rows.values())
    print(fmt % ('total (services up runs)', sum(r[2] for r in
                                                 rows.values()),
                 '%.0f' % (pss / 1024), '%.0f' % (rss / 1024)))
    engine = engine_pids()
    usage = [pss_rss_kib(pid) for pid in engine]
    print(fmt % ('shared engine + shims', len(engine),
                 '%.0f' % (sum(u[0] for u in usage) / 1024),
                 '%.0f' % (sum(u[1] for u in usage) / 1024)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--state-dir', default=os.environ.get(
        'NOVA_DOCKER_AIO_STATE', layout_mod.DEFAULT_STATE_DIR))
    args = ap.parse_args()
    print_table(layout_mod.Layout(args.state_dir))


if __name__ == '__main__':
    main()
