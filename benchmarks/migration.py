"""Cold migration through Nova's real API (Nova's functional fixtures)
between two engines, against the raw floor of moving the same container
with SDK calls.

For each --written-mb size, a server on the first host writes that much
random data; then, alternating:

- driver: `server migrate` -> VERIFY_RESIZE (stop, commit, save without
  the base layers, through Glance, load, create, start on the second host),
  with the bytes that went through Glance and the growth of this process's
  peak RSS (nova-compute runs in this process);
- raw: a plain container of the same image holding the same data stopped,
  committed, `docker save` of the whole commit streamed into the second
  engine's load, and a container started there (no Nova, no Glance).

Run as root with the test images built and the second engine started
(tools/run-tests.sh starts one; NOVA_DOCKER_TEST_SECOND_ENGINE names it):

    python -m benchmarks.migration [--written-mb 10 200]

Each size runs in a fresh process, so one size's peak memory does not hide
another's. The Glance stand-in spools image data to disk, so that only the
driver's own memory shows in the peak RSS.
"""

import argparse
import io
import os
import resource
import subprocess
import sys
import time
import unittest

import fixtures

# nova-compute's default mode in Nova 34; tests.api patches accordingly.
os.environ.setdefault('OS_NOVA_DISABLE_EVENTLET_PATCHING', '1')

from tests.api import base  # noqa: E402

ARGS = {}


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class Bench(base.TwoEnginesTestCase):

    def setUp(self):
        super().setUp()
        self.through_glance = 0
        self._spool_glance_data()

    def _keep_uploaded_image_data(self):
        pass

    def _spool_glance_data(self):
        spool = self.useFixture(fixtures.TempDir()).path
        fixture_create = self.glance.create
        bench = self

        def create(_self, context, metadata, data=None):
            image = fixture_create(context, metadata)
            if data is not None:
                path = os.path.join(spool, image['id'])
                with open(path, 'wb') as f:
                    for chunk in iter(lambda: data.read(1 << 20), b''):
                        f.write(chunk)
                        bench.through_glance += len(chunk)
                self.glance._imagedata[image['id']] = _OnDisk(path)
            return image

        def download(_self, context, image_id, data=None, **kw):
            _self.show(context, image_id)
            stored = _self._imagedata.get(image_id, b'')
            if isinstance(stored, _OnDisk):
                with open(stored.path, 'rb') as f:
                    for chunk in iter(lambda: f.read(1 << 20), b''):
                        data.write(chunk)
            else:
                data.write(stored)
        self.stub_out('nova.tests.fixtures.GlanceFixture.create', create)
        self.stub_out('nova.tests.fixtures.GlanceFixture.download', download)

    def test_migrate(self):
        mb = ARGS['written_mb']
        image_id = self.create_docker_image()
        flavor = self.create_flavor(memory_mb=256)
        for round_ in range(ARGS['rounds']):
            server = self._wait_for_state_change(self.api.post_server({
                'server': self._build_server(
                    image_uuid=image_id, flavor_id=flavor, networks='none',
                    host=self.host)}), 'ACTIVE')
            self.exec_in(server, 'sh', '-c',
                         'dd if=/dev/urandom of=/blob bs=1048576 count=%d '
                         '2>/dev/null' % mb)
            raw = self._raw_move(mb)
            before, self.through_glance = peak_rss_mb(), 0
            started = time.perf_counter()
            server = self._migrate_server(server, host=self.host2)
            took = time.perf_counter() - started
            print('%4d MB written | driver migrate -> VERIFY_RESIZE %6.2f s '
                  '| raw commit+save|load+start %6.2f s | ratio %.1fx | '
                  '%.1f MB through Glance | peak RSS +%.0f MB' % (
                      mb, took, raw, took / raw, self.through_glance / 1e6,
                      peak_rss_mb() - before), flush=True)
            self._delete_server(server)

    def _raw_move(self, mb):
        """The floor: a plain container of the same image holding the same
        data, moved with SDK calls only."""
        source = self.docker.containers.run(
            'ndtest/busybox:latest', detach=True, network_mode='none',
            init=True, command=['sh', '-c',
                                'dd if=/dev/urandom of=/blob bs=1048576 '
                                'count=%d 2>/dev/null; sleep 3600' % mb])
        while source.exec_run(['ls', '/blob']).exit_code:
            time.sleep(0.2)
        time.sleep(mb / 50.0)   # let dd finish writing
        started = time.perf_counter()
        source.stop(timeout=10)
        image = source.commit('ndbench/moving', 'latest')
        loaded = self.second_docker.images.load(
            _Chunks(self.docker.api.get_image(image.id)))
        moved = self.second_docker.containers.run(
            loaded[0].id, detach=True, network_mode='none', init=True,
            command=['sleep', '3600'])
        took = time.perf_counter() - started
        moved.remove(force=True)
        self.second_docker.images.remove(loaded[0].id, force=True)
        source.remove(force=True)
        self.docker.images.remove('ndbench/moving:latest')
        return took


class _OnDisk(object):
    def __init__(self, path):
        self.path = path


class _Chunks(io.RawIOBase):
    """A file-like view of the engine's save stream for the SDK's load."""

    def __init__(self, chunks):
        self._chunks = iter(chunks)
        self._rest = b''

    def readable(self):
        return True

    def readinto(self, buffer):
        while not self._rest:
            self._rest = next(self._chunks, None)
            if self._rest is None:
                return 0
        n = min(len(buffer), len(self._rest))
        buffer[:n], self._rest = self._rest[:n], self._rest[n:]
        return n


def run_one(**args):
    ARGS.update(args)
    result = unittest.TextTestRunner(stream=io.StringIO()).run(
        Bench('test_migrate'))
    for _test, trace in result.errors + result.failures:
        print(trace, file=sys.stderr)
    return result.wasSuccessful()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--written-mb', type=int, nargs='+',
                        default=[10, 200])
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--only', type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.only is not None:   # one size, in this (fresh) process
        sys.exit(0 if run_one(written_mb=args.only, rounds=args.rounds)
                 else 1)
    failed = 0
    for mb in args.written_mb:
        failed += subprocess.run(
            [sys.executable, '-m', 'benchmarks.migration', '--only', str(mb),
             '--rounds', str(args.rounds)]).returncode != 0
    sys.exit(1 if failed else 0)


if __name__ == '__main__':
    main()
