"""How fast the API tells the truth, through Nova's real API and compute
manager (Nova's functional fixtures) on the real engine, with the engine
event stream on and the driver's defaults:

1. `docker kill` of a server's container behind Nova's back -> SHUTOFF in
   the API, median of --rounds (the server is started again through the
   API between rounds). Beside it, the floor: kill -> the engine's own
   'die' event on a raw SDK event stream, and the configured delay of
   stopped events ([docker] stopped_event_delay), which is part of the
   figure by design.
2. Engine requests one power-state sync cycle of Nova
   (ComputeManager._sync_power_states, run by hand) makes with N servers,
   for each N of --servers: constant in N.

Run as root with the test images built (tools/build-test-images.sh):

    python -m benchmarks.truth [--rounds 10] [--servers 4 16]
"""

import argparse
import io
import os
import statistics
import sys
import threading
import time
import unittest

# nova-compute's default mode in Nova 34; tests.api patches accordingly.
os.environ.setdefault('OS_NOVA_DISABLE_EVENTLET_PATCHING', '1')

from tests.api import base  # noqa: E402

from nova import context as nova_context  # noqa: E402
from nova_docker import conf  # noqa: E402
from nova_docker import engine  # noqa: E402

ARGS = {}
POLL_SECONDS = 0.02


class Bench(base.DockerAPITestCase):
    # Nova stops a dead server by RPC cast from the event handler.
    CAST_AS_CALL = False

    def _setup_services(self):
        for quota in ('instances', 'cores', 'ram'):
            self.flags(**{quota: -1, 'group': 'quota'})
        self.flags(cpu_allocation_ratio=16.0)
        # The compute's engine, kept as the driver gets it, to count its
        # requests.
        made = engine.Engine.from_conf

        def kept(conf_):
            self.engine = made(conf_)
            return self.engine
        self.stub_out('nova_docker.engine.Engine.from_conf', kept)
        super()._setup_services()

    def wait_for(self, server, status, seconds=60):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            server = self.api.get_server(server['id'])
            if (server['status'] == status and
                    server['OS-EXT-STS:task_state'] is None):
                return server
            time.sleep(POLL_SECONDS)
        raise AssertionError('%s not %s after %s s' % (
            server['id'], status, seconds))

    def raw_die_seconds(self, container_id):
        """docker kill -> 'die' on a raw event stream of the engine."""
        seen = threading.Event()
        stream = self.docker.api.events(
            decode=True, filters={'container': container_id, 'event': 'die'})

        def follow():
            for _event in stream:
                seen.set()
                return
        reader = threading.Thread(target=follow, daemon=True)
        reader.start()
        started = time.perf_counter()
        self.docker.api.kill(container_id)
        if not seen.wait(30):
            raise AssertionError('no die event in 30 s')
        elapsed = time.perf_counter() - started
        stream.close()
        return elapsed

    def test_kill_to_shutoff(self):
        server = self.boot(self.create_docker_image())
        container_id = self.container(server)['Id']
        # The floor: a container outside Nova, from the same image.
        raw = self.docker.containers.create(
            self.container(server)['Image'], init=True,
            network_mode='none', labels={'nova-docker-bench': self.host})
        self.addCleanup(raw.remove, force=True)
        api_times, raw_times = [], []
        for _ in range(ARGS['rounds']):
            started = time.perf_counter()
            self.docker.api.kill(container_id)
            server = self.wait_for(server, 'SHUTOFF')
            api_times.append(time.perf_counter() - started)
            server = self._start_server(server)
            raw.start()
            raw_times.append(self.raw_die_seconds(raw.id))
        print('docker kill behind Nova\'s back, %d rounds (seconds):'
              % ARGS['rounds'])
        print('  -> SHUTOFF in the API  median %.2f  min %.2f  max %.2f' % (
            statistics.median(api_times), min(api_times), max(api_times)))
        print('  -> raw engine die event median %.3f  (floor)' %
              statistics.median(raw_times))
        print('  of which stopped_event_delay %.2f (by design: a restart '
              'cancels it)' % conf.CONF.docker.stopped_event_delay)

    def test_requests_per_sync_cycle(self):
        image_id = self.create_docker_image()
        flavor = self.create_flavor(memory_mb=16)
        api = self.engine.client.api
        count = [0]
        api.hooks['response'].append(lambda *a, **kw: count.__setitem__(
            0, count[0] + 1))
        booted = 0
        print('engine requests per power-state sync cycle (event stream '
              'on):')
        for n in sorted(ARGS['servers']):
            servers = [self.api.post_server({'server': self._build_server(
                image_uuid=image_id, flavor_id=flavor, networks='none')})
                for _ in range(n - booted)]
            for server in servers:
                self.wait_for(server, 'ACTIVE', seconds=600)
            booted = n
            # A listing older than the cache time, as a real cycle finds.
            self.engine.forget_listing(self.host)
            count[0] = 0
            self.compute.manager._sync_power_states(
                nova_context.get_admin_context())
            settled = wait_settled(count)
            print('  N=%-4d %d requests' % (n, settled))


def wait_settled(count, quiet=1.0, seconds=60):
    """The counter once it has not moved for ``quiet`` seconds (the sync
    runs its per-instance checks in a thread pool)."""
    deadline = time.monotonic() + seconds
    last, since = count[0], time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.1)
        if count[0] != last:
            last, since = count[0], time.monotonic()
        elif time.monotonic() - since >= quiet:
            break
    return last


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--rounds', type=int, default=10)
    parser.add_argument('--servers', type=int, nargs=2, default=[4, 16])
    parser.add_argument('--only', nargs='+', help=argparse.SUPPRESS)
    args = parser.parse_args()
    ARGS.update(rounds=args.rounds, servers=args.servers,
                phases=args.only or ['test_kill_to_shutoff',
                                     'test_requests_per_sync_cycle'])
    failed = False
    for name in ARGS['phases']:
        result = unittest.TextTestRunner(stream=io.StringIO()).run(
            Bench(name))
        for _test, trace in result.errors + result.failures:
            print(trace, file=sys.stderr)
        failed = failed or not result.wasSuccessful()
    sys.exit(1 if failed else 0)


if __name__ == '__main__':
    main()
