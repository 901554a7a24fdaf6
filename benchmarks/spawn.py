"""Driver spawn vs raw Docker SDK create+start, and engine calls per
periodic cycle.

Run as root on a host with a Docker engine and the test images built
(tools/build-test-images.sh .test-images):

    python benchmarks/spawn.py [--rounds 25] [--instances 10 50]

1. Spawn: the driver's spawn (image already loaded, as for every boot but
   the first), without and with an admin password (Nova's API makes one
   for every boot), against raw SDK create+start of the same image with
   the same limits and settings, alternating, reporting medians and the
   ratio without the password.
   Containers are removed outside the timed part.
2. Periodic cycle: with N instances on the host, the engine requests made
   by the driver calls one Nova periodic cycle makes (power-state sync:
   get_num_instances + get_info per instance; resource update:
   get_available_resource + update_provider_tree; deleted-instance
   cleanup: list_instance_uuids), counted at the HTTP level.
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))

from nova import monkey_patch  # noqa: E402

monkey_patch.patch(backend='threading')

from nova.compute import provider_tree  # noqa: E402
from nova import conf as nova_conf  # noqa: E402
from nova import config  # noqa: E402
from nova import objects  # noqa: E402

from nova_docker import driver as driver_mod  # noqa: E402
from nova_docker import engine as engine_mod  # noqa: E402
from nova_docker import host as host_mod  # noqa: E402
from nova_docker import images  # noqa: E402
from nova_docker import naming  # noqa: E402
from nova_docker import spec  # noqa: E402
from tests import support  # noqa: E402

CONF = nova_conf.CONF


class ArchiveGlance(object):
    """Stands in for Glance: serves one docker archive from disk."""

    def __init__(self, path):
        self.path = path

    def get(self, context, image_id):
        return {'id': image_id}

    def download(self, context, image_id, data=None, **kw):
        with open(self.path, 'rb') as f:
            shutil.copyfileobj(f, data)


class RequestCounter(object):
    def __init__(self, api_client):
        self.count = 0
        api_client.hooks['response'].append(self._count)

    def _count(self, response, *args, **kwargs):
        self.count += 1


def make_driver(host, archive):
    """A driver on the configured engine, its engine requests counted,
    its Glance images read from ``archive``."""
    engine = engine_mod.Engine.from_conf(CONF)
    drv = driver_mod.DockerDriver(
        virtapi=None, engine=engine,
        image_store=images.ImageStore.from_conf(
            engine, ArchiveGlance(archive), host, CONF.docker))
    drv.init_host(host)
    return drv, RequestCounter(engine.client.api)


def image_meta_for(image_id):
    return objects.ImageMeta.from_dict({
        'id': image_id, 'container_format': 'docker', 'disk_format': 'raw',
        'properties': {}})


def timed(fn):
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def bench_spawn(drv, client, host, image_id, rounds):
    image_meta = image_meta_for(image_id)
    flavor = support.make_flavor(memory_mb=64, vcpus=1)
    first = support.make_instance(flavor)
    drv.spawn(None, first, image_meta, [], None, {})   # loads the image
    ref = naming.image_reference(image_id)
    raw_args = spec.build(first, host, image_id, {'Cmd': ['x']}, None,
                          host_mod.facts(client.info()), CONF.docker
                          ).create_args
    raw_args['labels'] = {naming.COMPUTE_HOST: host + '-raw'}

    driver_times, raw_times, password_times = [], [], []
    for _ in range(rounds):
        instance = support.make_instance(flavor)
        driver_times.append(timed(lambda: drv.spawn(
            None, instance, image_meta, [], None, {})))
        # Nova's API makes an admin password for every boot that gives
        # none: spawn sets it through an exec in the started workload.
        instance = support.make_instance(flavor)
        password_times.append(timed(lambda: drv.spawn(
            None, instance, image_meta, [], 'Bench-pw-1', {})))

        def raw():
            container = client.containers.create(
                ref, name='bench-raw-' + uuid.uuid4().hex[:12], **raw_args)
            container.start()
        raw_times.append(timed(raw))
    return driver_times, raw_times, password_times


def count_cycle(drv, counter, host, instances):
    tree = provider_tree.ProviderTree()
    tree.new_root(host, uuid.uuid4().hex)
    counter.count = 0
    drv.get_num_instances()
    for instance in instances:
        drv.get_info(instance)
    drv.get_available_resource(host)
    drv.update_provider_tree(tree, host)
    drv.list_instance_uuids()
    return counter.count


def spawn_many(drv, image_id, n):
    image_meta = image_meta_for(image_id)
    flavor = support.make_flavor(memory_mb=16, vcpus=1)
    instances = []
    for _ in range(n):
        instance = support.make_instance(flavor)
        drv.spawn(None, instance, image_meta, [], None, {})
        instances.append(instance)
    return instances


def cleanup(client, host, image_id):
    for label in (host, host + '-raw'):
        for c in client.containers.list(
                all=True, filters={'label': naming.COMPUTE_HOST + '=' +
                                   label}):
            c.remove(force=True)
    client.images.remove(naming.image_reference(image_id))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--rounds', type=int, default=25)
    parser.add_argument('--instances', type=int, nargs='+', default=[10, 50])
    args = parser.parse_args()

    config.parse_args([], default_config_files=[])
    lock_dir = tempfile.mkdtemp()
    CONF.set_override('lock_path', lock_dir, group='oslo_concurrency')
    host = 'bench-' + uuid.uuid4().hex[:8]
    CONF.set_override('host', host)
    client = support.engine_client()
    image_id = str(uuid.uuid4())
    drv, counter = make_driver(host, support.archive_path('busybox'))
    try:
        driver_times, raw_times, password_times = bench_spawn(
            drv, client, host, image_id, args.rounds)
        drv_median = statistics.median(driver_times)
        raw_median = statistics.median(raw_times)
        print('spawn, %d rounds alternating (seconds):' % args.rounds)
        print('  driver spawn   median %.4f  min %.4f  max %.4f' % (
            drv_median, min(driver_times), max(driver_times)))
        print('  driver spawn with an admin password (as from the API) '
              'median %.4f  min %.4f  max %.4f' % (
                  statistics.median(password_times), min(password_times),
                  max(password_times)))
        print('  raw SDK create+start median %.4f  min %.4f  max %.4f' % (
            raw_median, min(raw_times), max(raw_times)))
        print('  ratio driver/raw: %.3f  (settle window %.3f s included)' % (
            drv_median / raw_median, CONF.docker.spawn_settle_seconds))
        cleanup(client, host, image_id)

        print('engine requests over one periodic cycle:')
        for n in args.instances:
            instances = spawn_many(drv, image_id, n)
            requests = count_cycle(drv, counter, host, instances)
            print('  N=%-4d %d requests' % (n, requests))
            cleanup(client, host, image_id)
    finally:
        cleanup_quietly(client, host, image_id)
        shutil.rmtree(lock_dir, ignore_errors=True)


def cleanup_quietly(client, host, image_id):
    try:
        cleanup(client, host, image_id)
    except Exception:  # the image may be gone already
        pass


if __name__ == '__main__':
    main()
