"""One host with many servers: do the driver's periodic costs stay flat?

Against a running all-in-one (``nova-docker-aio up``), as root:
  /var/lib/nova-docker-aio/venv/bin/python benchmarks/scale.py
      [--counts 10,100] [--window 90] [--batch 10]

It restarts the all-in-one's nova-compute for the run with three changes:
it schedules 64 vCPUs per core (room for 100 single-vCPU servers on 2
cores); its engine URL points at a counting proxy in front of the engine's
socket (benchmarks/engine_proxy.py: every request nova-compute makes,
whichever code makes it); and its power-state sync runs every 30 s
(Nova's default is 600 s) with debug logs, which mark where each cycle
starts and where each server's sync ends. At the end nova-compute is
restarted as ``up`` configured it.

For each count N it boots port-less m1.nano servers in batches until N are
ACTIVE, lets the host settle, then watches an idle window and prints:
  - one power-sync cycle (the last complete one in the window): engine
    requests, by kind, from the cycle's start to its last server's sync
    (without the engine watch's GET /info, which comes every 2 s whatever
    the sync does), and that wall time;
  - engine requests per idle minute, by kind (every periodic task, the
    engine watch and the event stream included);
  - nova-compute's CPU per idle minute (its process group: privsep helpers
    included; utime + stime from /proc);
  - PSS of the all-in-one's services plus the shared engine (dockerd,
    containerd, the shims and the servers' processes): the memory each extra
    server costs is the difference between the counts over the servers
    added. Other users of this shared host are left out.
Every server it booted is deleted at the end.
"""

import argparse
import collections
import concurrent.futures
import contextlib
import datetime
import os
import re
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))
from benchmarks import engine_proxy  # noqa: E402
from benchmarks import memory  # noqa: E402
from nova_docker.aio import bootstrap  # noqa: E402
from nova_docker.aio import cloud as cloud_mod  # noqa: E402
from nova_docker.aio import configs  # noqa: E402
from nova_docker.aio import images  # noqa: E402
from nova_docker.aio import layout as layout_mod  # noqa: E402
from nova_docker.aio import rest  # noqa: E402
from nova_docker.aio import services  # noqa: E402

SERVICE = 'nova-compute'
SYNC_INTERVAL = 30
# The engine watch's request: the engine's identity (Engine.identity),
# every 2 s, which tells an engine restart.
WATCH_PING = 'GET /info'
NANO = '42'
NONE_NETWORK = {'OpenStack-API-Version': 'compute 2.37'}
SYNC_START = re.compile(r'^(\S+ \S+) .*Running periodic task '
                        r'ComputeManager\._sync_power_states')
SYNC_DONE = re.compile(r'^(\S+ \S+) .*"released" by .*'
                       r'query_driver_power_state_and_sync')
HZ = os.sysconf('SC_CLK_TCK')


class Cloud(object):

    def __init__(self, layout):
        self.layout = layout
        self.client = bootstrap.admin_client(layout)
        self.nova = self.client.endpoint('compute')
        glance = self.client.endpoint('image')
        self.image = self.client.call(
            'GET', glance + '/v2/images?name=' + images.GLANCE_NAME
        )['images'][0]['id']

    @contextlib.contextmanager
    def unlimited_quota(self):
        """The admin project may hold other servers: no instance, core or
        RAM quota for the run, the project's own restored after it."""
        project = self.client.identity(
            'GET', '/projects?name=admin')['projects'][0]['id']
        url = self.nova + '/os-quota-sets/' + project
        keys = ('instances', 'cores', 'ram')
        saved = self.client.call('GET', url)['quota_set']
        self.client.call('PUT', url, {'quota_set': {k: -1 for k in keys}})
        try:
            yield
        finally:
            self.client.call('PUT', url, {'quota_set': {
                k: saved[k] for k in keys}})

    def boot(self, name):
        body = {'server': {'name': name, 'imageRef': self.image,
                           'flavorRef': NANO, 'networks': 'none'}}
        sid = self.client.call('POST', self.nova + '/servers', body,
                               headers=NONE_NETWORK)['server']['id']
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            server = self.client.call('GET', self.nova + '/servers/' + sid)
            status = server['server']['status']
            if status == 'ACTIVE':
                return sid
            if status == 'ERROR':
                raise RuntimeError('server %s: %s' % (
                    sid, server['server'].get('fault')))
            time.sleep(0.5)
        raise RuntimeError('server %s not ACTIVE after 300 s' % sid)

    def delete_all(self, sids, timeout=600):
        for sid in sids:
            try:
                self.client.call('DELETE', self.nova + '/servers/' + sid)
            except Exception as e:   # noqa: B902 - keep deleting the rest
                print('delete %s: %s' % (sid, e))
        deadline = time.monotonic() + timeout
        left = set(sids)
        while left and time.monotonic() < deadline:
            time.sleep(2)
            listed = {s['id'] for s in self.client.call(
                'GET', self.nova + '/servers?all_tenants=1')['servers']}
            left &= listed
        return left


class MeasuredCompute(object):
    """The all-in-one's nova-compute behind the counting proxy."""

    def __init__(self, layout, proxy):
        self.layout = layout
        self.proxy = proxy

    def __enter__(self):
        sections = configs.nova_compute(self.layout)
        # The all-in-one schedules 16 vCPUs per core: 32 servers here.
        sections['DEFAULT'] = dict(sections['DEFAULT'], debug='True',
                                   sync_power_state_interval=str(
                                       SYNC_INTERVAL),
                                   cpu_allocation_ratio='64.0')
        sections['docker'] = dict(sections['docker'],
                                  api_url=self.proxy.url)
        path = configs.conf(self.layout, 'nova', 'nova-compute-scale.conf')
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, 'w') as f:
            f.write(configs.render(sections))
        self._restart([self.layout.bin(SERVICE), '--config-file', path])
        return self

    def __exit__(self, *exc):
        services.stop(self.layout, [SERVICE])
        cloud_mod.start_nova_daemon(self.layout, SERVICE)

    def _restart(self, argv):
        services.stop(self.layout, [SERVICE])
        self.log_offset = os.path.getsize(self.layout.log(SERVICE))
        started = time.time()
        self.pid = services.start(self.layout, SERVICE, argv,
                                  env=configs.service_env(self.layout))
        # Up once a power-sync cycle has run: init_host and the first
        # resource update are over.
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if any(start >= started for start, _ in self.cycles()):
                return
            time.sleep(2)
        raise SystemExit('nova-compute ran no power sync in 300 s (log %s)'
                         % self.layout.log(SERVICE))

    def cycles(self):
        """[(start, end)] epoch times of each power-sync cycle in the log
        since the restart: from the task's start to its last server's
        sync (end None while no server finished after the start)."""
        with open(self.layout.log(SERVICE), errors='replace') as f:
            f.seek(self.log_offset)
            lines = f.readlines()
        found = []
        for line in lines:
            m = SYNC_START.match(line)
            if m:
                found.append([_epoch(m.group(1)), None])
                continue
            m = SYNC_DONE.match(line)
            if m and found:
                found[-1][1] = _epoch(m.group(1))
        return [tuple(c) for c in found]

    def cpu_seconds(self):
        """utime + stime of nova-compute's process group (its privsep
        helpers included), in seconds."""
        ticks = 0
        for pid in (int(e) for e in os.listdir('/proc') if e.isdigit()):
            try:
                if os.getpgid(pid) != self.pid:
                    continue
                with open('/proc/%d/stat' % pid) as f:
                    fields = f.read().rsplit(')', 1)[1].split()
                ticks += int(fields[11]) + int(fields[12])
            except (OSError, ValueError, IndexError):
                continue
        return ticks / HZ


def _epoch(stamp):
    # Nova logs local time to the millisecond.
    return datetime.datetime.strptime(
        stamp, '%Y-%m-%d %H:%M:%S.%f').timestamp()


def measured_pss_kib(layout):
    services_pss = sum(v[0] for v in memory.per_service(layout).values())
    engine_pss = sum(memory.pss_rss_kib(pid)[0]
                     for pid in memory.engine_pids())
    return services_pss + engine_pss


def measure(layout, compute, proxy, n, window):
    """The figures at n servers, from an idle window of ``window`` s."""
    cpu0, t0 = compute.cpu_seconds(), time.time()
    time.sleep(window)
    cpu1, t1 = compute.cpu_seconds(), time.time()
    minutes = (t1 - t0) / 60
    idle = collections.Counter(proxy.between(t0, t1))
    done = [(s, e) for s, e in compute.cycles()
            if s >= t0 and e is not None and e <= t1]
    if not done:
        raise SystemExit('no complete power-sync cycle in the window')
    start, end = done[-1]
    # The engine watch's ping comes every 2 s whatever the sync does: a
    # longer cycle only catches more of them (it counts per idle minute).
    cycle = collections.Counter(k for k in proxy.between(start, end)
                                if k != WATCH_PING)
    return {'n': n, 'cycle': cycle, 'cycle_s': end - start,
            'cycles': len(done),
            'idle_per_min': {k: v / minutes for k, v in idle.items()},
            'cpu_per_min': (cpu1 - cpu0) / minutes,
            'pss_kib': measured_pss_kib(layout)}


def boot_to(cloud, servers, n, batch, tag):
    while len(servers) < n:
        todo = min(batch, n - len(servers))
        names = ['scale-%s-%d' % (tag, len(servers) + i)
                 for i in range(todo)]
        with concurrent.futures.ThreadPoolExecutor(todo) as pool:
            futures = [pool.submit(cloud.boot, name) for name in names]
            for f in futures:
                try:
                    servers.append(f.result())
                except (RuntimeError, rest.ApiError) as e:
                    raise SystemExit(str(e))
        print('  %d servers ACTIVE' % len(servers), flush=True)


def print_results(results):
    print()
    print('Port-less m1.nano servers on the one Docker host; idle window '
          'per count, power sync every %d s.' % SYNC_INTERVAL)
    print('Engine requests counted by a proxy on nova-compute\'s engine '
          'socket (every caller).')
    fmt = '%-44s' + ' %12s' * len(results)
    print(fmt % (('',) + tuple('N=%d' % r['n'] for r in results)))
    print(fmt % (('power sync: engine requests (one cycle)*',)
                 + tuple(str(sum(r['cycle'].values())) for r in results)))
    print(fmt % (('power sync: wall time (start -> last server)',)
                 + tuple('%.2f s' % r['cycle_s'] for r in results)))
    print(fmt % (('idle: engine requests per minute',)
                 + tuple('%.1f' % sum(r['idle_per_min'].values())
                         for r in results)))
    print(fmt % (('idle: nova-compute CPU per minute',)
                 + tuple('%.2f s' % r['cpu_per_min'] for r in results)))
    print(fmt % (('PSS, services + engine + shims',)
                 + tuple('%.0f MiB' % (r['pss_kib'] / 1024)
                         for r in results)))
    kinds = sorted(set().union(*(r['idle_per_min'] for r in results)))
    print('* without the engine watch\'s %s (every 2 s, whatever the sync '
          'does; in the per-minute rows)' % WATCH_PING)
    print()
    print('By kind (one sync cycle | per idle minute):')
    for k in kinds:
        print(fmt % ((' ' + k,) + tuple(
            '%d | %.1f' % (r['cycle'].get(k, 0), r['idle_per_min'].get(k, 0))
            for r in results)))
    first, last = results[0], results[-1]
    if last['n'] == first['n']:
        return
    per_server = ((last['pss_kib'] - first['pss_kib']) / 1024
                  / (last['n'] - first['n']))
    same = sum(first['cycle'].values()) == sum(last['cycle'].values())
    print()
    print('Goals (issue 13):')
    print('  sync-cycle engine requests at N=%d = N=%d\'s: %d vs %d: %s' % (
        last['n'], first['n'], sum(last['cycle'].values()),
        sum(first['cycle'].values()), 'met' if same else 'NOT met'))
    print('  memory per extra server <= 8 MiB: %.1f MiB: %s' % (
        per_server, 'met' if per_server <= 8 else 'NOT met'))
    print('Load average at the end: %s' % ' '.join(
        open('/proc/loadavg').read().split()[:3]), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--counts', default='10,100')
    ap.add_argument('--window', type=int, default=90,
                    help='idle seconds measured per count')
    ap.add_argument('--batch', type=int, default=10)
    ap.add_argument('--settle', type=int, default=20,
                    help='seconds to wait after the boots before measuring')
    ap.add_argument('--state-dir', default=os.environ.get(
        'NOVA_DOCKER_AIO_STATE', layout_mod.DEFAULT_STATE_DIR))
    args = ap.parse_args()
    counts = [int(c) for c in args.counts.split(',')]
    layout = layout_mod.Layout(args.state_dir)
    cloud = Cloud(layout)
    tag = uuid.uuid4().hex[:6]
    servers, results = [], []
    sock = os.path.join(layout.path('run'), 'scale-engine-proxy.sock')
    with engine_proxy.CountingProxy(sock) as proxy:
        try:
            with cloud.unlimited_quota(), \
                    MeasuredCompute(layout, proxy) as compute:
                try:
                    for n in counts:
                        print('booting to N=%d' % n, flush=True)
                        boot_to(cloud, servers, n, args.batch, tag)
                        time.sleep(args.settle)
                        print('measuring %d s idle at N=%d' % (
                            args.window, n), flush=True)
                        results.append(measure(layout, compute, proxy, n,
                                               args.window))
                finally:
                    left = cloud.delete_all(servers)
                    if left:
                        print('NOT deleted: %s' % ' '.join(sorted(left)))
        finally:
            if results:
                print_results(results)


if __name__ == '__main__':
    main()
