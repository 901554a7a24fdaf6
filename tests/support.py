"""Test support shared by the suites: the real engine, the test images
(built by tools/build-test-images.sh) and Nova objects."""

import io
import os
import subprocess
import tarfile
import time
import uuid
import warnings

import docker
from docker import errors as docker_errors
import fixtures
from nova import objects
import requests

from nova_docker import naming

DOCKER_MANIFEST_V2 = 'application/vnd.docker.distribution.manifest.v2+json'
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


# A test image the engine has, but not through this driver (Docker has it
# from tools/build-test-images.sh; the podman suite's engines start empty).
HOST_IMAGE = 'ndtest/busybox:latest'


def host_image(client):
    """The engine's id of HOST_IMAGE, loaded first where it is missing."""
    try:
        return client.images.get(HOST_IMAGE).id
    except docker_errors.ImageNotFound:
        with open(archive_path('busybox'), 'rb') as f:
            return client.images.load(f)[0].id


def test_registry():
    """host:port of the loopback registry tools/run-tests.sh starts."""
    registry = os.environ.get('NOVA_DOCKER_TEST_REGISTRY')
    if not registry:
        raise RuntimeError('NOVA_DOCKER_TEST_REGISTRY is not set: run '
                           'tools/run-tests.sh, which starts the registry')
    return registry


def registry_digest(repository, tag):
    """The test registry's digest of repository:tag (its manifest's)."""
    response = requests.head(
        'http://%s/v2/%s/manifests/%s' % (test_registry(), repository, tag),
        headers={'Accept': DOCKER_MANIFEST_V2}, timeout=30)
    response.raise_for_status()
    return response.headers['Docker-Content-Digest']


def tar_bytes(files):
    """An uncompressed tar holding {name: bytes}."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode='w') as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def second_engine_url():
    """URL of the second engine tools/run-tests.sh starts (a Podman one in
    the podman suite)."""
    if on_podman():
        return podman_second_engine_url()
    return _engine_url('NOVA_DOCKER_TEST_SECOND_ENGINE', 'that engine')


def btrfs_engine_url():
    """URL of the engine on btrfs with quotas tools/run-tests.sh starts
    (tools/btrfs-engine.sh)."""
    url = os.environ.get('NOVA_DOCKER_TEST_BTRFS_ENGINE')
    if not url:
        raise RuntimeError('NOVA_DOCKER_TEST_BTRFS_ENGINE is not set: run '
                           'tools/run-tests.sh, which starts that engine')
    return url


class OwnEngine(fixtures.Fixture):
    """An engine of the test's own, which the test may stop and start (the
    shared engine is never stopped): a dockerd (tools/second-engine.sh:
    its own socket, data-root and exec-root), or in the podman suite a
    Podman service (tools/podman-engine.sh: all its state in its own
    directory; being daemonless, its containers outlive a stop)."""

    def _setUp(self):
        self.podman = on_podman()
        # Short: a unix socket path has at most 107 characters.
        self.state = self.useFixture(fixtures.TempDir(rootdir='/tmp')).path
        self.script = os.path.join(ROOT, 'tools', 'podman-engine.sh'
                                   if self.podman else 'second-engine.sh')
        self.url = 'unix://%s/%s.sock' % (
            self.state, 'podman' if self.podman else 'docker')
        self.addCleanup(self._run, 'stop')
        self.start()

    def _run(self, action):
        result = subprocess.run([self.script, action, self.state],
                                capture_output=True, timeout=120)
        if result.returncode:
            raise RuntimeError('%s %s failed: %s' % (
                os.path.basename(self.script), action,
                result.stderr.decode(errors='replace')))

    def start(self):
        self._run('start')
        self.running = True

    def stop(self):
        """The engine stops answering (dockerd stops its containers; a
        Podman service leaves them running)."""
        self._run('stop-service' if self.podman else 'stop')
        self.running = False

    def ensure_running(self):
        if not self.running:
            self.start()


def engine_client(url=None):
    """A client of the real engine. A missing engine fails the test: the
    test command starts one, and Docker behaviour is never mocked."""
    try:
        if url:
            return docker.DockerClient(base_url=url, version='auto')
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
                         if naming.IMAGE_REPOSITORY + image_id in t]
        return refs

    def _clean(self):
        # Joining containers first: Podman refuses to remove a namespace
        # owner while a container joins it.
        for container in sorted(self.containers(), key=lambda c: (
                naming.INFRA_FOR in c.labels)):
            container.remove(force=True, v=True)
        for ref in set(self.image_refs()):
            remove_tag(self.client, ref)


def wait_for(predicate, timeout, what):
    """predicate's first true answer, asked until timeout seconds have
    passed; then an AssertionError saying what did not happen."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError('%s not within %d s' % (what, timeout))
        time.sleep(0.2)


def read_file(client, instance_uuid, path):
    """A file of the server's container, created or running, through the
    engine (the image may have no cat): its tar entry and text."""
    stream, _stat = client.api.get_archive(
        naming.container_name(instance_uuid), path)
    with tarfile.open(fileobj=io.BytesIO(b''.join(stream))) as tar:
        member = tar.next()
        return member, tar.extractfile(member).read().decode()


def password_is(stored, password):
    """Whether a crypt(3) hash is that of password."""
    with warnings.catch_warnings():
        # Deprecated in 3.11, still the one stdlib way to check a hash.
        warnings.simplefilter('ignore', DeprecationWarning)
        import crypt
    return crypt.crypt(password, stored) == stored


def run_in(client, instance_uuid, *argv):
    """Run argv in the instance's workload container: (exit code, output
    as text)."""
    return exec_in_container(client, naming.container_name(instance_uuid),
                             argv)


# Commands that only read: safe to run again.
READ_ONLY_COMMANDS = frozenset(['cat', 'echo', 'hostname', 'ip', 'ls', 'ps'])


def exec_in_container(client, name, argv):
    """Run argv in container ``name``: (exit code, output as text).

    Podman 4.3 sometimes loses the output of a command that ends before
    its attach is set up (seen once in five runs of the network test, on
    a loaded machine): there a read-only command that succeeded and
    printed nothing runs again, twice at most."""
    container = client.containers.get(name)
    attempts = 1
    if argv[0] in READ_ONLY_COMMANDS and _is_podman(client):
        attempts = 3
    for _attempt in range(attempts):
        code, output = container.exec_run(list(argv))
        if code != 0 or output:
            break
    return code, output.decode('utf-8', 'replace')


def _is_podman(client):
    known = getattr(client, '_nova_docker_test_is_podman', None)
    if known is None:
        known = is_podman(client)
        client._nova_docker_test_is_podman = known
    return known


def started_at(record):
    """When the container of this inspect record last started, as a value
    that sorts by time (the engine drops trailing zeros of the
    nanoseconds)."""
    stamp = record['State']['StartedAt']
    seconds, _dot, fraction = stamp.rstrip('Z').partition('.')
    return seconds, fraction.ljust(9, '0')


def tags(client, repository):
    """Every tag of the engine's images in ``repository`` (the driver's
    repositories end in the Glance image or server id; Podman lists them
    with a domain in front)."""
    return [tag for image in client.images.list(name=repository)
            for tag in image.tags if repository in tag]


def remove_tag(client, ref):
    """Untag ref, even when a container of a test running in parallel uses
    the image (the engine then keeps it). Such a test may be removing the
    same image (same archive, same id) through its own tag: dockerd then
    answers 500 "unrecognized image ID", and the tag may be gone or not."""
    for attempt in range(3):
        try:
            client.images.remove(ref, force=True)
            return
        except docker_errors.NotFound:
            # Removed with an earlier tag of the same image (Podman's 404
            # is a NotFound: its words are not Docker's "No such image").
            return
        except docker_errors.APIError as e:
            if 'unrecognized image ID' not in str(e) or attempt == 2:
                raise


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
                  vm_state='building', task_state=None, host=None, node=None,
                  # What spawn reads for the config drive, keys, user data.
                  config_drive='', system_metadata={}, key_data=None,
                  key_name=None, user_data=None)
    values.update(kw)
    instance = objects.Instance(**values)
    instance.obj_reset_changes()
    return instance


PODMAN_COMPONENT = 'Podman Engine'


def on_podman():
    """Whether the API tests' compute hosts drive Podman: the podman suite
    of tools/run-tests.sh sets NOVA_DOCKER_TEST_ENGINE=podman and runs the
    same tests as on Docker."""
    return os.environ.get('NOVA_DOCKER_TEST_ENGINE') == 'podman'


def engine_name():
    """What faults, logs and the disabled reason call the API tests'
    compute hosts' engine once it has answered."""
    return 'Podman engine' if on_podman() else 'Docker engine'


def is_podman(client):
    """Whether the engine answering ``client`` is Podman."""
    return any(component['Name'] == PODMAN_COMPONENT
               for component in client.version().get('Components', []))


def _engine_url(variable, starts):
    url = os.environ.get(variable)
    if not url:
        raise RuntimeError('%s is not set: run tools/run-tests.sh, which '
                           'starts %s' % (variable, starts))
    return url


def podman_engine_url():
    """URL of the Podman engine the podman suite starts
    (tools/podman-engine.sh)."""
    return _engine_url('NOVA_DOCKER_TEST_PODMAN', 'a Podman engine')


def podman_second_engine_url():
    """URL of the second Podman engine the podman suite starts (the second
    compute host of migrations and evacuation)."""
    return _engine_url('NOVA_DOCKER_TEST_PODMAN_SECOND',
                       'a second Podman engine')


def default_engine_url():
    """The engine of a test's compute host: on Docker the shared engine
    (None: /var/run/docker.sock), in the podman suite its Podman."""
    return podman_engine_url() if on_podman() else None
