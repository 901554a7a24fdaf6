"""A DockerDriver on the real engine, with Glance served by Nova's own
GlanceFixture and everything the test made removed afterwards.

Each test gets a compute host name of its own (containers are labelled
with it), its own Glance image ids (engine tags are named after them), its
own lock and staging directories, and a driver that went through
``init_host`` like nova-compute's does.
"""

import atexit
import hashlib
import io
import json
import os
import tarfile
import threading
import time
import uuid

import fixtures
from nova import conf as nova_conf
from nova import context as nova_context
from nova import objects
from nova.tests import fixtures as nova_fixtures
from nova.virt import virtapi
import testtools

from nova_docker import conf  # noqa: F401  (registers [docker])
from nova_docker import driver as driver_mod
from nova_docker.engine import dialect
from nova_docker import naming
from tests import support

CONF = nova_conf.CONF

# Generous bounds: the tests run two at a time on two shared cores.
WAIT_SECONDS = 30
TEST_TIMEOUT_SECONDS = 120


class DriverTestCase(testtools.TestCase):
    """One DockerDriver, initialised for a compute host of its own."""

    def setUp(self):
        super().setUp()
        self.useFixture(fixtures.Timeout(TEST_TIMEOUT_SECONDS, gentle=True))
        self.conf = self.useFixture(nova_fixtures.ConfFixture(CONF))
        self.logger = self.useFixture(fixtures.FakeLogger(
            level='INFO', format='%(levelname)s %(name)s %(message)s'))
        self.host = support.unique_host()
        self.staging_dir = self.useFixture(fixtures.TempDir()).path
        self.flags(host=self.host,
                   state_path=self.useFixture(fixtures.TempDir()).path)
        self.flags(lock_path=self.useFixture(fixtures.TempDir()).path,
                   group='oslo_concurrency')
        # The settle check is part of what is tested: give a busy machine
        # a margin to notice a workload that exits at once.
        self.flags(image_staging_dir=self.staging_dir,
                   spawn_settle_seconds=0.2, group='docker')
        # The node uuid file goes to this test's state_path.
        self.useFixture(fixtures.MonkeyPatch(
            'nova.virt.node.LOCAL_NODE_UUID', None))

        self.glance = self.useFixture(nova_fixtures.GlanceFixture(self))
        self.context = nova_context.get_admin_context()

        # Docker's socket, or the test command's Podman (see
        # support.default_engine_url): the driver and the test's own
        # view of the engine are the same engine.
        self.engine_url = support.default_engine_url()
        if self.engine_url:
            self.flags(api_url=self.engine_url, group='docker')
        self.docker = support.engine_client(self.engine_url)
        self.addCleanup(self.docker.close)
        # How this engine's API differs, as the driver reads it.
        self.dialect = dialect.detect(self.docker.version())
        self.engine_cleanup = self.useFixture(
            support.EngineCleanup(self.docker, self.host))

        self.driver = self.make_driver(self.host)

    # -- plumbing -----------------------------------------------------------

    def flags(self, group=None, **kw):
        for key, value in kw.items():
            self.conf.config(group=group, **{key: value})

    def stub_out(self, old, new):
        """What Nova's GlanceFixture expects of its test."""
        self.useFixture(fixtures.MonkeyPatch(old, new))

    def make_driver(self, host, engine=None):
        """A driver as nova-compute makes it (on ``engine``, default the
        configured one): constructed, then init_host, then asked for
        resources (its pre_start_hook, after which it takes requests)."""
        driver = driver_mod.DockerDriver(virtapi.VirtAPI(), engine=engine)
        driver.init_host(host)
        # As nova-compute does when it stops: ends the event stream and
        # the engine watch thread.
        self.addCleanup(driver.cleanup_host, host)
        driver.get_available_resource(host)
        return driver

    def other_host_cleanup(self):
        """A second compute host name, cleaned like this test's."""
        host = support.unique_host()
        self.useFixture(support.EngineCleanup(self.docker, host))
        return host

    # -- Glance -------------------------------------------------------------

    def create_image(self, archive='busybox', data=None, checksum=True,
                     container_format='docker', image_id=None, **props):
        """A Glance image holding ``data`` (default: the docker save
        archive of test image ``archive``) under a new id, its engine tags
        removed after the test; returns its ImageMeta."""
        if data is None:
            data = support.archive_bytes(archive)
        meta = {'name': 'docker-' + archive,
                'container_format': container_format,
                'disk_format': 'raw', 'status': 'active',
                'size': len(data), 'properties': props}
        if checksum is True:
            meta['checksum'] = hashlib.md5(data).hexdigest()
        elif checksum:
            meta['checksum'] = checksum
        if image_id:
            meta['id'] = image_id
        image = self.glance.create(self.context, meta, data=io.BytesIO(data))
        if not image_id:
            self.engine_cleanup.image_ids.append(image['id'])
        return objects.ImageMeta.from_dict(self.glance.show(self.context,
                                                            image['id']))

    def shared_image(self):
        """The busybox test image under a Glance id that every test of
        this process shares, so that it is loaded into the engine once per
        process rather than once per test (a second or more on a busy
        machine). Tests about images and bad inputs make their own with
        create_image; the shared tag goes when the process exits."""
        image_id = _shared_image_id(self.engine_url)
        if image_id in self.glance.images:
            return objects.ImageMeta.from_dict(
                self.glance.show(self.context, image_id))
        return self.create_image(image_id=image_id)

    def count_downloads(self):
        """Counts Glance downloads from now on; returns a list that grows
        by one image id per download."""
        calls = []
        real = self.glance.download

        def download(context, image_id, *args, **kwargs):
            calls.append(image_id)
            return real(context, image_id, *args, **kwargs)

        self.patch(self.glance, 'download', download)
        return calls

    # -- Nova objects -------------------------------------------------------

    def make_instance(self, memory_mb=64, vcpus=1, extra_specs=None,
                      flavor_name='m1.test', root_gb=0, **kw):
        flavor = support.make_flavor(memory_mb=memory_mb, vcpus=vcpus,
                                     name=flavor_name, root_gb=root_gb,
                                     extra_specs=extra_specs or {})
        kw.setdefault('id', int(uuid.uuid4().int % 1000000) + 1)
        return support.make_instance(flavor=flavor, **kw)

    def spawn(self, instance=None, image_meta=None, power_on=True,
              driver=None):
        instance = instance or self.make_instance()
        image_meta = image_meta or self.shared_image()
        (driver or self.driver).spawn(
            self.context, instance, image_meta, injected_files=[],
            admin_password=None, allocations={}, network_info=[],
            power_on=power_on)
        return instance

    def state(self, instance):
        return self.driver.get_info(instance, use_cache=False).state

    # -- the engine, as an operator sees it ---------------------------------

    def inspect(self, instance):
        return self.docker.api.inspect_container(
            naming.container_name(instance.uuid))

    def status(self, instance):
        return self.inspect(instance)['State']['Status']

    def exec_in(self, instance, *cmd):
        """Run cmd in the instance's container; returns its output."""
        code, output = support.run_in(self.docker, instance.uuid, *cmd)
        self.assertEqual(0, code, output)
        return output

    def wait_for_logs(self, instance, text):
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            logs = self.docker.api.logs(naming.container_name(instance.uuid))
            if text.encode() in logs or time.monotonic() > deadline:
                return logs
            time.sleep(0.1)

    def containers_of(self, instance):
        return self.docker.containers.list(
            all=True, filters={'label': '%s=%s' % (naming.INSTANCE_UUID,
                                                   instance.uuid)})

    def image_tags(self, image_id):
        """Every engine tag the driver made for this Glance image, as the
        driver named it (Podman lists it with a domain in front)."""
        return [self.dialect.short_tag(tag) for tag in support.tags(
            self.docker, naming.IMAGE_REPOSITORY + image_id)]

    def tag_target(self, ref):
        """The image id a tag points at, or None."""
        try:
            return self.docker.images.get(ref).id
        except Exception:
            return None

    def archive_tags(self, data):
        """{tag: image id it points at on the host now} for each tag the
        docker save archive ``data`` carries."""
        return {tag: self.tag_target(tag) for tag in
                archive_manifest(data).get('RepoTags') or []}

    def assert_archive_tags_kept(self, data, before):
        """Loading ``data`` left the host's tags it carries as they were
        (``before``: what archive_tags said before the load).

        The ndtest/* test images are shared by everyone using this engine
        and may be rebuilt meanwhile, which moves their tags to new
        images: so a tag may change, but never to this archive's image
        unless it pointed there before, and a tag never disappears."""
        loaded = archive_image_id(data)
        for tag, was in before.items():
            now = self.tag_target(tag)
            if was == loaded:
                self.assertIsNotNone(now, '%s was removed' % tag)
            else:
                self.assertNotEqual(
                    loaded, now, '%s was %s before the load' % (tag, was))

    def assert_nothing_left(self, instance, image_id):
        self.assertEqual([], self.containers_of(instance))
        self.assertEqual([], self.docker.containers.list(
            all=True, filters={'label': '%s=%s' % (naming.INFRA_FOR,
                                                   instance.uuid)}))
        self.assertEqual([], self.image_tags(image_id))
        self.assertEqual([], os.listdir(self.staging_dir))


_SHARED_IMAGE_ID = []


def _shared_image_id(engine_url):
    if not _SHARED_IMAGE_ID:
        _SHARED_IMAGE_ID.append(str(uuid.uuid4()))
        atexit.register(_remove_shared_image, _SHARED_IMAGE_ID[0],
                        engine_url)
    return _SHARED_IMAGE_ID[0]


def _remove_shared_image(image_id, url):
    client = support.engine_client(url)
    try:
        cleanup = support.EngineCleanup(client, host=None)
        cleanup.image_ids.append(image_id)
        for ref in cleanup.image_refs():
            client.images.remove(ref)
    finally:
        client.close()


def archive_manifest(data):
    """The (single) manifest entry of a docker save archive."""
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return json.load(tar.extractfile('manifest.json'))[0]


def archive_image_id(data):
    config = archive_manifest(data)['Config']
    return 'sha256:' + os.path.basename(config)[:-len('.json')]


def rewrite_archive(data, repo_tags=None, config_changes=None,
                    config_name=None):
    """A docker save archive like ``data`` with its manifest's RepoTags,
    its image config (dict of Config changes) or the name of its config
    file changed. By default the config file is named after the digest of
    its content, as docker save names it."""
    out = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(data)) as src, \
            tarfile.open(fileobj=out, mode='w') as dst:
        manifest = json.load(src.extractfile('manifest.json'))
        old_config = manifest[0]['Config']
        for member in src:
            if member.name in ('manifest.json', 'repositories'):
                continue
            content = src.extractfile(member) if member.isfile() else None
            if member.name != old_config:
                dst.addfile(member, content)
                continue
            config = json.load(content)
            config['config'].update(config_changes or {})
            raw = json.dumps(config).encode()
            name = (config_name or hashlib.sha256(raw).hexdigest()) + '.json'
            manifest[0]['Config'] = name
            _add(dst, name, raw)
        if repo_tags is not None:
            manifest[0]['RepoTags'] = repo_tags
        repositories = {}
        for tag in manifest[0].get('RepoTags') or []:
            repository, _sep, version = tag.rpartition(':')
            repositories.setdefault(repository, {})[version] = (
                manifest[0]['Layers'][-1].split('/')[0])
        _add(dst, 'manifest.json', json.dumps(manifest).encode())
        _add(dst, 'repositories', json.dumps(repositories).encode())
    return out.getvalue()


def _add(tar, name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


class _Thread(object):
    """A call running in a daemon thread (a hung call cannot hang the
    test run)."""

    def __init__(self, func, *args):
        self._error = None
        self._thread = threading.Thread(target=self._run,
                                        args=(func,) + args, daemon=True)
        self._thread.start()

    def _run(self, func, *args):
        try:
            func(*args)
        except BaseException as e:  # handed to the test
            self._error = e

    def outcome(self, timeout):
        """None if the call returned within timeout, else 'hung' or the
        exception it raised."""
        self._thread.join(timeout)
        if self._thread.is_alive():
            return 'hung'
        return self._error


def start_thread(func, *args):
    return _Thread(func, *args)
