"""Servers back after a dockerd restart, next to the engine's own floor.

Against a running networked all-in-one (``nova-docker-aio up``), in one run:
  boot       N servers with a port on NETWORK (booted 5 at a time)
  restart    the dockerd serving /var/run/docker.sock stopped (SIGTERM) and
             started again exactly as it was (tests/e2e/dockerd.py)
  running    from the engine answering to all N workloads running again
  pinging    ... to every server pinging the one before it (docker exec)
  api        ... to all N ACTIVE with power state Running in the API
  floor      the engine alone: N stopped plain containers started, 4 at a
             time (as the driver repairs), via the docker SDK
The goal is 30 s for N=20; the ratio to the floor is printed. This restarts
the engine the whole host uses: run it only when nothing else needs it.
Every server and container it makes is deleted at the end.

  /var/lib/nova-docker-aio/venv/bin/python benchmarks/engine_restart.py
      [-n 20] [--network private]
"""

import argparse
import concurrent.futures
import os
import subprocess
import sys
import time
import uuid

import docker

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))
from benchmarks.aio_boot import Cloud  # noqa: E402
from nova_docker.aio import images  # noqa: E402
from nova_docker.aio import layout as layout_mod  # noqa: E402
from tests.e2e import dockerd  # noqa: E402

LABEL = 'org.openstack.nova-docker.benchmark'
TIMEOUT = 600


def until(predicate, start, what):
    while not predicate():
        if time.monotonic() - start > TIMEOUT:
            raise SystemExit('%s not after %d s' % (what, TIMEOUT))
        time.sleep(0.2)
    return time.monotonic() - start


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('-n', type=int, default=20)
    ap.add_argument('--network', default='private')
    ap.add_argument('--state-dir', default=os.environ.get(
        'NOVA_DOCKER_AIO_STATE', layout_mod.DEFAULT_STATE_DIR))
    args = ap.parse_args()
    cloud = Cloud(args.state_dir)
    network = cloud.network_id(args.network)
    tag = uuid.uuid4().hex[:8]
    servers, containers = [], []
    try:
        t0 = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(5) as pool:
            servers = [sid for sid, _ in pool.map(
                lambda i: cloud.boot('bench-%s-%d' % (tag, i), network),
                range(args.n))]
        print('boot      %d servers with a port: %.1f s' % (
            args.n, time.monotonic() - t0), flush=True)
        ipv4 = {}
        for sid in servers:
            server = cloud.client.call('GET', cloud.nova + '/servers/' + sid)
            ipv4[sid] = [a['addr'] for a in server['server']['addresses'][
                args.network] if a['version'] == 4][0]
        engine = docker.from_env()
        started = {sid: engine.api.inspect_container('nova-' + sid)[
            'State']['StartedAt'] for sid in servers}

        argv, answering = dockerd.restart()
        print('restart   %s: stopped and answering again' % ' '.join(argv),
              flush=True)
        engine = docker.from_env()

        def running():
            for sid in servers:
                state = engine.api.inspect_container('nova-' + sid)['State']
                if not state['Running'] or state['StartedAt'] == started[sid]:
                    return False
            return True

        def pinging():
            return all(subprocess.run(
                ['docker', 'exec', 'nova-' + sid, 'ping', '-c', '1', '-W',
                 '2', ipv4[servers[i - 1]]], capture_output=True
            ).returncode == 0 for i, sid in enumerate(servers))

        def api():
            for sid in servers:
                server = cloud.client.call(
                    'GET', cloud.nova + '/servers/' + sid)['server']
                if (server['status'] != 'ACTIVE' or
                        server['OS-EXT-STS:power_state'] != 1):
                    return False
            return True

        took = {'running': until(running, answering, 'all running')}
        took['pinging'] = until(pinging, answering, 'all pinging')
        took['api'] = until(api, answering, 'all ACTIVE')

        containers = [engine.containers.create(
            images.IMAGE_TAG, name='bench-%s-floor%d' % (tag, i),
            labels={LABEL: tag}, init=True, network_mode='none')
            for i in range(args.n)]
        t0 = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda c: c.start(), containers))
        floor = time.monotonic() - t0
        for what in ('running', 'pinging', 'api'):
            print('%-9s %5.1f s after dockerd answered  (%.1fx the floor)'
                  % (what, took[what], took[what] / floor), flush=True)
        print('floor     %5.1f s to start %d plain containers' % (
            floor, args.n))
    finally:
        for sid in servers:
            cloud.delete(sid)
        for c in containers:
            c.remove(force=True)


if __name__ == '__main__':
    main()
