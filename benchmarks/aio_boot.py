"""Boot speed through the whole cloud, next to raw Docker SDK calls.

Against a running all-in-one (``nova-docker-aio up``), in one run:
  api-serial     N servers one after another: POST /servers -> ACTIVE
  api-parallel   N servers requested at once -> all ACTIVE
  sdk-serial     N containers: docker SDK create + start, one by one
  sdk-parallel   N containers created and started at once
With --network NAME (networked all-in-one: --network private), the same two
API rows again with one Neutron port each on that network (api-*-net): the
port is created, bound, plugged and reported wired before ACTIVE.
With --floor, port-less boots instead go, alternating, to the Docker host
and to a second nova-compute running Nova's fake driver on the same control
plane (benchmarks/floor.py, started and removed by this run): the rows
floor-serial and floor-parallel are everything but this driver, and each
Docker row is printed with its difference and ratio to the floor.
Every server and container it makes is deleted at the end.

Run with the all-in-one's venv (it has the docker SDK):
  /var/lib/nova-docker-aio/venv/bin/python benchmarks/aio_boot.py [-n 15]
      [--network private]
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
from benchmarks import floor as floor_mod  # noqa: E402
from nova_docker.aio import bootstrap  # noqa: E402
from nova_docker.aio import images  # noqa: E402
from nova_docker.aio import layout as layout_mod  # noqa: E402

NONE_NETWORK = {'OpenStack-API-Version': 'compute 2.37'}
LABEL = 'org.openstack.nova-docker.benchmark'


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

    def create(self, name, network=None, zone=None):
        networks = [{'uuid': network}] if network else 'none'
        body = {'server': {'name': name, 'imageRef': self.image,
                           'flavorRef': '1', 'networks': networks}}
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

    def against_floor(self, n, tag, floor):
        """Port-less boots, alternating Docker host and floor: serial, then
        n at once on each; their ids."""
        zones = {'docker': 'nova:' + self.layout.compute_host,
                 'floor': floor.zone}
        servers, times = [], {'docker': [], 'floor': []}
        for i in range(n):
            for kind in ('docker', 'floor'):
                sid, took = self.boot('bench-%s-%s-s%d' % (tag, kind, i),
                                      zone=zones[kind])
                servers.append(sid)
                times[kind].append(took)
        compare('serial', times['docker'], times['floor'])
        walls = {}
        for kind in ('docker', 'floor'):
            results, walls[kind] = parallel(
                lambda name, kind=kind: self.boot(name, zone=zones[kind]),
                ['bench-%s-%s-p%d' % (tag, kind, i) for i in range(n)])
            servers.extend(sid for sid, _ in results)
        print('%-17s n=%-3d all ACTIVE: docker %6.2fs  floor %6.2fs  '
              'ratio %.2fx' % ('parallel', n, walls['docker'],
                               walls['floor'],
                               walls['docker'] / walls['floor']), flush=True)
        return servers

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


def summary(label, times, wall=None):
    line = '%-17s n=%-3d median %6.2fs  min %6.2fs  max %6.2fs' % (
        label, len(times), statistics.median(times), min(times), max(times))
    if wall is not None:
        line += '  all done after %6.2fs' % wall
    print(line, flush=True)


def compare(label, docker_times, floor_times):
    summary('docker-' + label, docker_times)
    summary('floor-' + label, floor_times)
    docker_median = statistics.median(docker_times)
    floor_median = statistics.median(floor_times)
    print('%-17s median docker - floor = %+.2fs, ratio %.2fx' % (
        label, docker_median - floor_median, docker_median / floor_median),
        flush=True)


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
                servers += cloud.against_floor(args.n, tag, floor)
                # Gone while the floor's nova-compute still runs.
                cloud.delete_and_wait(servers)
                servers = []
        else:
            servers += cloud.serial_and_parallel(args.n, tag)
        if args.network:
            network = cloud.network_id(args.network)
            # Room for the next ones: the host's RAM is what bounds it.
            for sid in servers:
                cloud.delete(sid)
            servers = cloud.serial_and_parallel(args.n, tag, '-net', network)

        times = []
        for i in range(args.n):
            c, took = sdk_boot(engine, tag, 'bench-%s-ds%d' % (tag, i))
            containers.append(c)
            times.append(took)
        summary('sdk-serial', times)
        results, wall = parallel(
            lambda name: sdk_boot(engine, tag, name),
            ['bench-%s-dp%d' % (tag, i) for i in range(args.n)])
        containers.extend(c for c, _ in results)
        summary('sdk-parallel', [t for _, t in results], wall)
    finally:
        for sid in servers:
            cloud.delete(sid)
        for c in containers:
            c.remove(force=True)


if __name__ == '__main__':
    main()
