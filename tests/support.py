"""Test support shared by the suites: the real engine, the test images
(built by tools/build-test-images.sh) and Nova objects."""

import os
import time
import uuid

import docker
from docker import errors as docker_errors
import fixtures
from nova import objects

from nova_docker import naming

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMAGES_DIR = os.environ.get('NOVA_DOCKER_TEST_IMAGES',
                            os.path.join(ROOT, '.test-images'))

objects.register_all()


def archive_path(name):
    """Path of a docker save archive of test image ``name``."""
    path = os.path.join(IMAGES_DIR, name + '.tar')
    if not os.path.exists(path):
        raise RuntimeError('test image archive %s is missing: run '
                           'tools/run-tests.sh, which builds it' % path)
    return path


def archive_bytes(name):
    with open(archive_path(name), 'rb') as f:
        return f.read()


def engine_client():
    """A client of the real engine. A missing engine fails the test: the
    test command starts one, and Docker behaviour is never mocked."""
    try:
        return docker.DockerClient(version='auto')
    except docker_errors.DockerException as e:
        raise RuntimeError('these tests need a real Docker engine (%s); run '
                           'them with tools/run-tests.sh' % e)


def unique_host():
    """A compute host name of its own, so that tests running in parallel
    on one engine never see each other's containers."""
    return 'test-' + uuid.uuid4().hex[:10]


class EngineCleanup(fixtures.Fixture):
    """Removes, at cleanup, every container labelled with this host and
    every image tag loaded for the Glance image ids it is told of."""

    def __init__(self, client, host):
        self.client = client
        self.host = host
        self.image_ids = []

    def _setUp(self):
        self.addCleanup(self._clean)

    def containers(self):
        return self.client.containers.list(
            all=True, filters={'label': '%s=%s' % (naming.COMPUTE_HOST,
                                                   self.host)})

    def image_refs(self):
        refs = []
        for image_id in self.image_ids:
            for image in self.client.images.list(
                    name=naming.IMAGE_REPOSITORY + image_id):
                refs += [t for t in image.tags
                         if t.startswith(naming.IMAGE_REPOSITORY + image_id)]
        return refs

    def _clean(self):
        for container in self.containers():
            container.remove(force=True, v=True)
        for ref in self.image_refs():
            self._untag(ref)

    def _untag(self, ref, attempts=40):
        """Tests running in parallel load the same archive under their own
        tags: while another test's container still uses the image whose
        last tag this is, the engine refuses (409) for a moment."""
        for attempt in range(attempts):
            try:
                self.client.images.remove(ref)
                return
            except docker_errors.APIError as e:
                if e.status_code != 409 or attempt == attempts - 1:
                    raise
                time.sleep(0.5)


def make_flavor(**kw):
    values = dict(flavorid='f1', name='m1.test', memory_mb=64, vcpus=1,
                  root_gb=0, ephemeral_gb=0, swap=0, extra_specs={})
    values.update(kw)
    return objects.Flavor(**values)


def make_instance(flavor=None, **kw):
    instance_uuid = str(uuid.uuid4())
    values = dict(uuid=instance_uuid, id=1, hostname='vm-' + instance_uuid[:8],
                  display_name='vm', project_id='p', user_id='u',
                  flavor=flavor or make_flavor(), image_ref='',
                  vm_state='building', task_state=None, host=None, node=None)
    values.update(kw)
    instance = objects.Instance(**values)
    instance.obj_reset_changes()
    return instance
