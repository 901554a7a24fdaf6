"""Image figures through Nova's real API (Nova's functional fixtures) on
the real engine:

1. first boot of an uncached image of --size-mb MB: API call -> ACTIVE;
2. --parallel boots at once of one uncached image: time to all ACTIVE,
   and how many Glance downloads and engine loads that took;
3. snapshot of a container holding --snapshot-mb MB of written data:
   API call -> image active, and the growth of this process's peak RSS
   (nova-compute runs in this process), for two data sizes.

Run as root with the test images built (tools/build-test-images.sh):

    python -m benchmarks.images [--size-mb 100] [--parallel 20]
        [--snapshot-mb 20 200]

Every figure comes from a fresh process, so that one phase's peak memory
does not hide another's.
"""

import argparse
import io
import os
import resource
import subprocess
import sys
import time
import unittest

# nova-compute's default mode in Nova 34; tests.api patches accordingly.
os.environ.setdefault('OS_NOVA_DISABLE_EVENTLET_PATCHING', '1')

from nova_docker import engine as engine_mod  # noqa: E402
from tests.api import base  # noqa: E402
from tests import support  # noqa: E402

ARGS = {}


def build_archive(size_mb):
    """docker save of a busybox image carrying size_mb of random data."""
    client = support.engine_client()
    container = client.containers.run(
        'ndtest/busybox:latest', detach=True, network_mode='none',
        command=['dd', 'if=/dev/urandom', 'of=/blob', 'bs=1048576',
                 'count=%d' % size_mb])
    try:
        container.wait()
        image = container.commit('ndbench/big', 'latest')
    finally:
        container.remove(force=True)
    try:
        return b''.join(client.api.get_image(image.id))
    finally:
        client.images.remove('ndbench/big:latest')


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class Bench(base.DockerAPITestCase):

    def setUp(self):
        super().setUp()
        for quota in ('instances', 'cores', 'ram'):
            self.flags(**{quota: -1, 'group': 'quota'})
        self.downloads = 0
        self.loads = 0
        glance_download = self.glance.download

        def counting_download(*a, **kw):
            self.downloads += 1
            return glance_download(*a, **kw)
        self.stub_out('nova.tests.fixtures.GlanceFixture.download',
                      lambda _self, *a, **kw: counting_download(*a, **kw))
        engine_load = engine_mod.Engine.load_image

        def counting_load(engine, fileobj):
            self.loads += 1
            return engine_load(engine, fileobj)
        self.stub_out('nova_docker.engine.Engine.load_image', counting_load)

    def test_first_boot(self):
        image_id = self.create_docker_image(
            data=build_archive(ARGS['size_mb']))
        started = time.perf_counter()
        self.boot(image_id)
        print('first boot of an uncached %d MB image: API -> ACTIVE %.2f s'
              % (ARGS['size_mb'], time.perf_counter() - started))

    def test_parallel_boots(self):
        n = ARGS['parallel']
        image_id = self.create_docker_image()
        flavor = self.create_flavor(memory_mb=16)
        server = self._build_server(image_uuid=image_id, flavor_id=flavor,
                                    networks='none')
        server['min_count'] = server['max_count'] = n
        started = time.perf_counter()
        self.api.post_server({'server': server})
        while True:
            servers = self.api.get_servers(detail=True)
            states = [s['status'] for s in servers]
            if len(servers) == n and all(s in ('ACTIVE', 'ERROR')
                                         for s in states):
                break
            time.sleep(0.2)
        faults = {s['fault']['message'] for s in servers if 'fault' in s}
        if faults:
            print('faults: %s' % '; '.join(sorted(faults)))
        print('%d parallel boots of one uncached image: all ACTIVE in %.2f s '
              '(%d ACTIVE), %d Glance download(s), %d engine load(s)' % (
                  n, time.perf_counter() - started, states.count('ACTIVE'),
                  self.downloads, self.loads))

    def test_snapshot(self):
        self._discard_uploads()
        mb = ARGS['snapshot_mb']
        server = self.boot(self.create_docker_image())
        self.exec_in(server, 'sh', '-c',
                     'dd if=/dev/urandom of=/root/blob bs=1048576 count=%d '
                     '2>/dev/null' % mb)
        before = peak_rss_mb()
        started = time.perf_counter()
        self.api.post_server_action(server['id'],
                                    {'createImage': {'name': 'bench'}})
        self._wait_for_server_parameter(
            server, {'OS-EXT-STS:task_state': None}, max_retries=600)
        print('snapshot of a container with %d MB written: API -> image '
              'active %.2f s, %.0f MB uploaded, peak RSS %.0f -> %.0f MB '
              '(+%.0f MB)' % (mb, time.perf_counter() - started,
                              self.uploaded / 1e6, before, peak_rss_mb(),
                              peak_rss_mb() - before))

    def _discard_uploads(self):
        """Count what a snapshot uploads without keeping it in memory, so
        that only the driver's own memory shows in the peak RSS."""
        self.uploaded = 0
        fixture_update = self.glance.update

        def update(context, image_id, metadata, data=None, **kw):
            if data is not None:
                for chunk in iter(lambda: data.read(65536), b''):
                    self.uploaded += len(chunk)
            return fixture_update(context, image_id, metadata, **kw)
        self.stub_out('nova.tests.fixtures.GlanceFixture.update',
                      lambda _self, *a, **kw: update(*a, **kw))

    def _keep_uploaded_image_data(self):
        pass


def run_one(test_name, **args):
    ARGS.update(args)
    result = unittest.TextTestRunner(stream=io.StringIO()).run(
        Bench(test_name))
    for _test, trace in result.errors + result.failures:
        print(trace, file=sys.stderr)
    return result.wasSuccessful()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--size-mb', type=int, default=100)
    parser.add_argument('--parallel', type=int, default=20)
    parser.add_argument('--snapshot-mb', type=int, nargs='+',
                        default=[20, 200])
    parser.add_argument('--only', help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.only:   # one phase, in this (fresh) process
        ok = run_one(args.only, size_mb=args.size_mb, parallel=args.parallel,
                     snapshot_mb=args.snapshot_mb[0])
        sys.exit(0 if ok else 1)
    phases = [['--only', 'test_first_boot', '--size-mb', str(args.size_mb)],
              ['--only', 'test_parallel_boots', '--parallel',
               str(args.parallel)]]
    phases += [['--only', 'test_snapshot', '--snapshot-mb', str(mb)]
               for mb in args.snapshot_mb]
    failed = 0
    for phase in phases:
        failed += subprocess.run([sys.executable, '-m', 'benchmarks.images']
                                 + phase).returncode != 0
    sys.exit(1 if failed else 0)


if __name__ == '__main__':
    main()
