"""Boot speed through the whole cloud, next to raw Docker SDK calls.

Against a running all-in-one (``nova-docker-aio up``), in one run:
  api-serial     N servers one after another: POST /servers -> ACTIVE
  api-parallel   N servers requested at once -> all ACTIVE
  sdk-serial     N containers: docker SDK create + start, one by one
  sdk-parallel   N containers created and started at once
With --network NAME (networked all-in-one: --network private), the same two
API rows again with one Neutron port each on that network (api-*-net): the
port is created, bound, plugged and reported wired before ACTIVE.
With --floor, the API boots instead go, alternating, to the Docker host
and to a second nova-compute running Nova's fake driver on the same control
plane (benchmarks/floor.py, started and removed by this run): everything
but this driver. With --floor --network private as well, the networked
boots are compared too: for them Neutron is restarted with a mechanism
driver that binds the floor host's ports (nova_docker/aio/floor_binding.py)
and restarted without it at the end. It prints a table: per row the Docker
host, the floor, the difference, the ratio and the issue's goal; then
where the CPU went during each side's at-once boots and during
sdk-parallel (benchmarks/cpu.py: per service, privsep helpers, engine).
Every server and container it makes is deleted at the end.

Run with the all-in-one's venv (it has the docker SDK), as root:
  /var/lib/nova-docker-aio/venv/bin/python benchmarks/aio_boot.py [-n 15]
      [--network private] [--floor]
"""

import argparse
import concurrent.futures
import os
import statistics
import sys
import time
import uuid

import docker

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))
from benchmarks import breakdown  # noqa: E402
from benchmarks import cpu as cpu_mod  # noqa: E402
from benchmarks import floor as floor_mod  # noqa: E402
from nova_docker.aio import bootstrap  # noqa: E402
from nova_docker.aio import images  # noqa: E402
from nova_docker.aio import layout as layout_mod  # noqa: E402
from nova_docker.aio import vm_image  # noqa: E402
from nova_docker import netplan  # noqa: E402

NONE_NETWORK = {'OpenStack-API-Version': 'compute 2.37'}
LABEL = 'org.openstack.nova-docker.benchmark'
DOCKER, FLOOR = 'docker', 'floor'


class Cloud:
    def __init__(self, state_dir):
        self.layout = layout_mod.Layout(state_dir)
        self.client = bootstrap.admin_client(self.layout)
        self.nova = self.client.endpoint('compute')
        self.image = self._image_id()

    def _image_id(self):
        glance = self.client.endpoint('image')
        found = self.client.call('GET', glance + '/v2/images?name='
                                 + images.GLANCE_NAME)['images']
        return found[0]['id']

    def network_id(self, name):
        found = self.client.call('GET', self.client.endpoint('network')
                                 + '/v2.0/networks?name=' + name)['networks']
        if not found:
            raise SystemExit('no network %s in this cloud' % name)
        return found[0]['id']

    def create(self, name, network=None, zone=None, image=None,
               flavor='1'):
        networks = [{'uuid': network}] if network else 'none'
        body = {'server': {'name': name, 'imageRef': image or self.image,
                           'flavorRef': flavor, 'networks': networks}}
        if zone:
            body['server']['availability_zone'] = zone
        return self.client.call('POST', self.nova + '/servers', body,
                                headers=NONE_NETWORK)['server']['id']

    def wait_active(self, sid, timeout=300):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            server = self.client.call('GET', self.nova + '/servers/' + sid)
            status = server['server']['status']
            if status == 'ACTIVE':
                return
            if status == 'ERROR':
                raise RuntimeError('server %s: %s' % (
                    sid, server['server'].get('fault')))
            time.sleep(0.1)
        raise RuntimeError('server %s not ACTIVE after %ds' % (sid, timeout))

    def boot(self, name, network=None, zone=None):
        t0 = time.monotonic()
        sid = self.create(name, network, zone)
        self.wait_active(sid)
        return sid, time.monotonic() - t0

    def vm_boots(self, n, tag):
        """n VMs of the KVM host's test image, one after another: seconds
        from the API call to ACTIVE, and to the guest's marker on its
        console (its init has run)."""
        glance = self.client.endpoint('image')
        image = self.client.call('GET', glance + '/v2/images?name='
                                 + vm_image.IMAGE)['images'][0]['id']
        active, marker = [], []
        for i in range(n):
            t0 = time.monotonic()
            sid = self.create('bench-%s-vm%d' % (tag, i), image=image,
                              flavor='84')
            try:
                self.wait_active(sid)
                active.append(time.monotonic() - t0)
                deadline = time.monotonic() + 300
                while vm_image.MARKER not in (self.client.call(
                        'POST', self.nova + '/servers/%s/action' % sid,
                        {'os-getConsoleOutput': {}})['output'] or ''):
                    if time.monotonic() > deadline:
                        raise RuntimeError('no marker from %s' % sid)
                    time.sleep(0.5)
                marker.append(time.monotonic() - t0)
            finally:
                self.delete(sid)
        return active, marker

    def against_floor(self, n, tag, floor, network=None, timeline=None,
                      cpu=None):
        """n boots one after another, alternating Docker host and floor,
        then n at once on each (in turn); each phase's servers deleted
        before the next. Returns the table's two rows; ``timeline`` (a
        dict) gets the one-at-a-time boots per side: (id, POST, ACTIVE);
        ``cpu`` (a dict) the CPU split of each side's n at once."""
        zones = {DOCKER: 'nova:' + self.layout.compute_host,
                 FLOOR: floor.zone}
        kind = 'networked' if network else 'port-less'
        times = {DOCKER: [], FLOOR: []}
        timeline = {} if timeline is None else timeline
        cpu = {} if cpu is None else cpu
        servers = []
        try:
            for i in range(n):
                for side in (DOCKER, FLOOR):
                    posted = time.time()
                    sid, took = self.boot(
                        'bench-%s-%s-%s-s%d' % (tag, kind, side, i),
                        network, zones[side])
                    servers.append(sid)
                    times[side].append(took)
                    timeline.setdefault(side, []).append(
                        (sid, posted, posted + took))
            serial = Row('%s, one at a time' % kind, n, times)
            self.delete_and_wait(servers)
            servers = []
            walls = {}
            for side in (DOCKER, FLOOR):
                cpu[side] = cpu_mod.CpuSplit(self.layout, [floor_mod.SERVICE])
                with cpu[side]:
                    results, wall = parallel(
                        lambda name, side=side: self.boot(name, network,
                                                          zones[side]),
                        ['bench-%s-%s-%s-p%d' % (tag, kind, side, i)
                         for i in range(n)])
                servers.extend(sid for sid, _ in results)
                walls[side] = [wall]
                # The next side starts on an empty host too.
                self.delete_and_wait(servers)
                servers = []
            return [serial, Row('%s, %d at once' % (kind, n), n, walls,
                                parallel=True)]
        finally:
            self.delete_and_wait(servers)

    def serial_and_parallel(self, n, tag, suffix='', network=None):
        """Boot n servers one by one, then n at once; their ids."""
        servers, times = [], []
        for i in range(n):
            sid, took = self.boot('bench-%s-s%s%d' % (tag, suffix, i),
                                  network)
            servers.append(sid)
            times.append(took)
        summary('api-serial' + suffix, times)
        results, wall = parallel(
            lambda name: self.boot(name, network),
            ['bench-%s-p%s%d' % (tag, suffix, i) for i in range(n)])
        servers.extend(sid for sid, _ in results)
        summary('api-parallel' + suffix, [t for _, t in results], wall)
        return servers

    def delete(self, sid):
        self.client.call('DELETE', self.nova + '/servers/' + sid)

    def delete_and_wait(self, sids, timeout=300):
        if not sids:
            return
        for sid in sids:
            self.delete(sid)
        deadline = time.monotonic() + timeout
        left = set(sids)
        while left and time.monotonic() < deadline:
            listed = {s['id'] for s in self.client.call(
                'GET', self.nova + '/servers')['servers']}
            left &= listed
            time.sleep(0.5)


def sdk_boot(engine, tag, name):
    t0 = time.monotonic()
    container = engine.containers.create(
        images.IMAGE_TAG, name=name, labels={LABEL: tag}, init=True,
        network_mode='none', mem_limit='512m', detach=True)
    container.start()
    return container, time.monotonic() - t0


class Row(object):
    """One line of the table: Docker host against floor."""

    def __init__(self, what, n, times, parallel=False):
        self.what, self.n, self.times = what, n, times
        self.parallel = parallel

    def figure(self, side):
        t = self.times[side]
        if self.parallel:
            return '%6.2f s all ACTIVE' % t[0]
        return '%5.2f s (%.2f-%.2f)' % (statistics.median(t), min(t),
                                        max(t))

    def value(self, side):
        return statistics.median(self.times[side])

    def goal(self):
        """The issue's goal for this row: (text, met)."""
        docker, floor = self.value(DOCKER), self.value(FLOOR)
        if self.parallel:
            return '<= 1.3x floor', docker <= 1.3 * floor
        slack = 0.5 if self.what.startswith('networked') else 0.3
        return '<= floor + %.1f s' % slack, docker <= floor + slack


def print_table(rows, n):
    print()
    print('Boot -> ACTIVE through Nova\'s API (POST /servers until the API '
          'says ACTIVE), n=%d per row and side.' % n)
    print('Docker host: this driver. Floor: a second nova-compute on the same '
          'control plane running Nova\'s')
    print('fake driver (networked: its ports created and bound by Neutron '
          'too, nothing plugged or wired).')
    print('One-at-a-time rows alternate Docker host and floor boot by boot: '
          'median (min-max) of n.')
    print('At-once rows: n servers requested together, time until all are '
          'ACTIVE (Docker host first).')
    fmt = '%-26s %-24s %-24s %-18s %s'
    print()
    print(fmt % ('boot', 'Docker host', 'floor', 'Docker - floor',
                 'goal (issue 13)'))
    for row in rows:
        docker, floor = row.value(DOCKER), row.value(FLOOR)
        goal, met = row.goal()
        print(fmt % (row.what, row.figure(DOCKER), row.figure(FLOOR),
                     '%+.2f s (%.2fx)' % (docker - floor, docker / floor),
                     '%s: %s' % (goal, 'met' if met else 'NOT met')),
              flush=True)


def log_paths(layout):
    return [layout.log(name) for name in (
        'nova-compute', floor_mod.SERVICE, 'nova-api',
        'neutron-openvswitch-agent')] + [breakdown.OVS_LOG]


def print_breakdown(layout, logs, events, boots, kind):
    """The one-at-a-time boots' timeline on each side (kind: port-less
    or networked)."""
    found, ports = {}, {}
    sids = {side: [sid for sid, _, _ in boots[side]] for side in boots}
    breakdown.from_compute_log(logs.lines(layout.log('nova-compute')),
                               sids[DOCKER], found, ports)
    breakdown.from_compute_log(logs.lines(layout.log(floor_mod.SERVICE)),
                               sids[FLOOR], found, {})
    everyone = sids[DOCKER] + sids[FLOOR]
    breakdown.from_api_log(logs.lines(layout.log('nova-api')), everyone,
                           found)
    breakdown.from_agent_log(
        logs.lines(layout.log('neutron-openvswitch-agent')), ports, found)
    breakdown.from_switch_log(logs.lines(breakdown.OVS_LOG), ports, found,
                              netplan.host_dev)
    breakdown.from_engine_events(events, sids[DOCKER], found)
    breakdown.print_table(
        'Where a %s boot\'s time goes (the one-at-a-time boots '
        'above; logs and engine events):' % kind,
        [(side, breakdown.medians(found, boots[side]), len(boots[side]))
         for side in (DOCKER, FLOOR)])


def summary(label, times, wall=None):
    line = '%-17s n=%-3d median %6.2fs  min %6.2fs  max %6.2fs' % (
        label, len(times), statistics.median(times), min(times), max(times))
    if wall is not None:
        line += '  all done after %6.2fs' % wall
    print(line, flush=True)


def parallel(func, names):
    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(len(names)) as pool:
        results = list(pool.map(func, names))
    return results, time.monotonic() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('-n', type=int, default=15)
    ap.add_argument('--network', help='also boot with a port on this '
                    'network (e.g. private)')
    ap.add_argument('--floor', action='store_true', help='port-less boots '
                    'against a fake-driver nova-compute on the same cloud')
    ap.add_argument('--vm', type=int, default=0, metavar='N',
                    help='also N VMs of %s on the KVM host (up --kvm), '
                    'one after another: API to ACTIVE and to its console '
                    'marker' % vm_image.IMAGE)
    ap.add_argument('--state-dir', default=os.environ.get(
        'NOVA_DOCKER_AIO_STATE', layout_mod.DEFAULT_STATE_DIR))
    args = ap.parse_args()
    cloud = Cloud(args.state_dir)
    engine = docker.from_env()
    tag = uuid.uuid4().hex[:8]
    servers, containers = [], []
    print('%d boots each; image %s, flavor m1.tiny' % (
        args.n, images.IMAGE_TAG))
    try:
        if args.floor:
            with floor_mod.FloorCompute(cloud.layout) as floor:
                plain, plain_cpu, cpu = {}, {}, {}
                plain_logs = breakdown.Logs(log_paths(cloud.layout))
                plain_events = breakdown.EngineEvents(engine)
                try:
                    rows = cloud.against_floor(args.n, tag, floor,
                                               timeline=plain, cpu=plain_cpu)
                finally:
                    plain_events = plain_events.stop()
                if args.network:
                    network = cloud.network_id(args.network)
                    with floor_mod.PortBinding(cloud.layout):
                        logs = breakdown.Logs(log_paths(cloud.layout))
                        events = breakdown.EngineEvents(engine)
                        boots = {}
                        try:
                            rows += cloud.against_floor(args.n, tag, floor,
                                                        network, boots, cpu)
                        finally:
                            events = events.stop()
            print_table(rows, args.n)
            cpu_columns = [('%s %s' % (kind, side), split)
                           for kind, splits in (('port-less', plain_cpu),
                                                ('networked', cpu))
                           for side, split in sorted(splits.items())]
            print_breakdown(cloud.layout, plain_logs, plain_events, plain,
                            'port-less')
            if args.network:
                print_breakdown(cloud.layout, logs, events, boots,
                                'networked')
        else:
            servers += cloud.serial_and_parallel(args.n, tag)
        if args.network and not args.floor:
            network = cloud.network_id(args.network)
            # Room for the next ones: the host's RAM is what bounds it.
            for sid in servers:
                cloud.delete(sid)
            servers = cloud.serial_and_parallel(args.n, tag, '-net', network)

        if args.vm:
            active, marker = cloud.vm_boots(args.vm, tag)
            summary('vm-serial', active)
            summary('vm-console-up', marker)

        times = []
        for i in range(args.n):
            c, took = sdk_boot(engine, tag, 'bench-%s-ds%d' % (tag, i))
            containers.append(c)
            times.append(took)
        summary('sdk-serial', times)
        with cpu_mod.CpuSplit(cloud.layout) as sdk_cpu:
            results, wall = parallel(
                lambda name: sdk_boot(engine, tag, name),
                ['bench-%s-dp%d' % (tag, i) for i in range(args.n)])
        containers.extend(c for c, _ in results)
        summary('sdk-parallel', [t for _, t in results], wall)
        if args.floor:
            # The same containers' engine work without Nova: what the
            # engine rows of a Docker host's column cost by themselves.
            cpu_mod.print_splits(
                'Where the CPU went while %d servers booted at once (and '
                'while sdk-parallel ran)' % args.n,
                cpu_columns + [('sdk-parallel', sdk_cpu)])
    finally:
        for sid in servers:
            cloud.delete(sid)
        for c in containers:
            c.remove(force=True)


if __name__ == '__main__':
    main()
