"""Glance images in the engine: checked, loaded once, tagged by Glance id.

A Glance image with ``container_format=docker`` holds a ``docker save``
archive. Spawn reuses the engine's copy when the tag for this image id and
checksum exists; otherwise one download per image id at a time (a lock
shared by every process on the host) goes to a staging file, is verified
against Glance's hash and read for its index, then streamed into the
engine's load and tagged ``nova-glance/<image id>:<checksum>``. The
load itself tags nothing (the archive's own tags are taken out of the
stream), and containers are created from the engine's image id, never a
tag: no tenant content ever sits under a name the driver trusts.
"""

import collections
import base64
import contextlib
import hashlib
import json
import os
import tempfile
import time

from nova import exception as nova_exception
from oslo_concurrency import lockutils
from oslo_log import log as logging
from oslo_utils import timeutils
from oslo_utils import units

from nova_docker import archive
from nova_docker import crashpoint
from nova_docker import exception
from nova_docker import naming

LOG = logging.getLogger(__name__)

DOCKER_CONTAINER_FORMAT = 'docker'
# Glance property naming a registry image to pull instead of an archive.
REGISTRY_PROPERTY = 'docker_image'
PROGRESS_INTERVAL_SECONDS = 5
LOAD_ATTEMPTS = 3

# Repositories only this driver writes to; no tenant reference may name
# them (the driver trusts what they hold).
DRIVER_REPOSITORIES = tuple(
    repository.rstrip('/') for repository in (
        naming.IMAGE_REPOSITORY, naming.SNAPSHOT_REPOSITORY,
        naming.MIGRATION_REPOSITORY, naming.INFRA_REPOSITORY.split('/')[0]))

PreparedImage = collections.namedtuple(
    'PreparedImage', ['image_id', 'ref', 'engine_id', 'config',
                      'loaded_now'])
PreparedImage.__doc__ = """An image ready for containers.

image_id: Glance id; ref: engine tag; engine_id: the engine's image id,
what containers are created from; config: the image's Config (Cmd,
Entrypoint, ...); loaded_now: whether this call loaded it (a failed spawn
then removes it).
"""


class ImageStore(object):

    def __init__(self, engine, image_api, host, staging_dir=None,
                 allowed_registries=(), limits=None, registry_auth=None):
        self._engine = engine
        self.image_api = image_api
        self.host = host
        self.staging_dir = staging_dir or tempfile.gettempdir()
        self._allowed_registries = set(allowed_registries)
        self._limits = limits
        self._registry_auth = registry_auth or {}

    @classmethod
    def from_conf(cls, engine, image_api, host, docker_conf):
        return cls(engine, image_api, host, docker_conf.image_staging_dir,
                   docker_conf.allowed_registries,
                   archive.Limits(
                       max_members=docker_conf.image_max_files,
                       max_json_bytes=docker_conf.image_max_json_bytes,
                       max_bytes=docker_conf.image_max_mb * units.Mi),
                   _registry_auth(docker_conf.registry_auth_file))

    def prepare(self, context, image_meta):
        """Make the Glance image available in the engine."""
        check_format(image_meta)
        image_id = image_meta.id
        ref = naming.image_reference(image_id, _field(image_meta, 'checksum'))
        found = self._engine.image(ref)
        if found is not None:
            return PreparedImage(image_id, ref, *found, loaded_now=False)
        with _image_lock(image_id):
            found = self._engine.image(ref)
            if found is not None:   # another spawn loaded it meanwhile
                return PreparedImage(image_id, ref, *found, loaded_now=False)
            meta = self.image_api.get(context, image_id)
            reference = (meta.get('properties') or {}).get(REGISTRY_PROPERTY)
            if reference:
                engine_id = self._pull(image_id, reference, ref)
            else:
                engine_id = self._load(context, image_id, meta, ref)
            found = self._engine.image(engine_id)
            return PreparedImage(image_id, ref, *found, loaded_now=True)

    def forget(self, prepared):
        """Remove an image a failed spawn loaded, unless something uses it."""
        if prepared.loaded_now:
            with _image_lock(prepared.image_id):
                self._engine.untag_image(prepared.ref)

    @contextlib.contextmanager
    def committed(self, instance_uuid, snapshot_id):
        """The container's files as a temporary engine image, removed
        afterwards whatever happens."""
        ref = naming.snapshot_reference(snapshot_id, self.host)
        # Tenants download snapshots: the driver's labels (compute host,
        # instance uuid) must not go with them, nor its tag (saved by id,
        # the archive names no tag).
        engine_id = self._engine.commit(instance_uuid, ref,
                                        naming.DRIVER_LABELS)
        try:
            yield engine_id
        finally:
            self._engine.untag_image(ref)

    def upload(self, context, snapshot_id, engine_id):
        """Stream ``docker save`` of an image id into the Glance image
        snapshot_id; nova-compute holds one chunk at a time, whatever the
        image size."""
        snapshot = self.image_api.get(context, snapshot_id)
        metadata = {'name': snapshot['name'], 'status': 'active',
                    'container_format': DOCKER_CONTAINER_FORMAT,
                    'disk_format': 'raw'}
        archive = _ChunkReader(crashpoint.after_first(
            self._engine.save_image(engine_id), crashpoint.SNAPSHOT_UPLOAD))
        self.image_api.update(context, snapshot_id, metadata, data=archive)
        LOG.info('Uploaded snapshot %s to Glance', snapshot_id)

    def remove_unused(self, image_ids_in_use, min_age_seconds):
        """Image-cache ageing: drop tags this driver loaded for Glance
        images no instance uses, tagged more than min_age_seconds ago. The
        engine refuses to delete an image a container still runs from (a
        container of another compute host sharing the engine, say)."""
        now = timeutils.utcnow(with_timezone=True)
        removed = []
        for ref, tagged_at in sorted(
                self._engine.tagged_images(naming.IMAGE_REPOSITORY).items()):
            image_id = naming.glance_id_of(ref)
            if image_id in image_ids_in_use:
                continue
            age = (now - tagged_at).total_seconds() if tagged_at else None
            if age is not None and age < min_age_seconds:
                continue
            with _image_lock(image_id):
                if self._engine.untag_image(ref):
                    removed.append(ref)
        if removed:
            LOG.info('Image cache: removed unused images %s',
                     ', '.join(removed))
        return removed

    def _pull(self, image_id, reference, ref):
        registry, repository = self._checked_reference(image_id, reference)
        existed = self._engine.image_id(reference) is not None
        try:
            # Only the credentials configured for the driver, never those
            # of nova-compute's user (~/.docker/config.json).
            engine_id = self._engine.pull_image(
                reference, self._registry_auth.get(registry, {}))
        except (exception.EngineRefused, exception.EngineError) as e:
            raise nova_exception.ImageUnacceptable(
                image_id=image_id, reason='pulling %s failed: %s' % (
                    reference, e.kwargs.get('reason') or e))
        self._engine.tag_image(engine_id, ref)
        if not existed:
            self._engine.untag_image(reference)
        LOG.info('Pulled %(reference)s for Glance image %(id)s as %(ref)s',
                 {'reference': reference, 'id': image_id, 'ref': ref})
        return engine_id

    def _checked_reference(self, image_id, reference):
        """(registry, repository) of a docker_image property, parsed as
        the engine parses it; refused unless the registry is allowed and
        the repository is not one of the driver's own."""
        try:
            registry, repository = self._engine.parse_reference(reference)
        except exception.BadReference as e:
            raise nova_exception.ImageUnacceptable(image_id=image_id,
                                                   reason=str(e))
        if repository.split('/')[0] in DRIVER_REPOSITORIES:
            raise nova_exception.ImageUnacceptable(
                image_id=image_id,
                reason='its docker_image %s names a repository reserved for '
                       'the driver\'s own images' % reference)
        if not ({'*', registry} & self._allowed_registries):
            raise nova_exception.ImageUnacceptable(
                image_id=image_id,
                reason='this host does not pull from %s (see [docker] '
                       'allowed_registries)' % registry)
        return registry, repository

    def _load(self, context, image_id, meta, ref):
        with tempfile.NamedTemporaryFile(
                dir=self.staging_dir,
                prefix=naming.staging_prefix(self.host)) as staged:
            self._download(context, image_id, meta, staged)
            try:
                archive.inspect(staged.name, self._limits)
            except archive.BadArchive as e:
                raise nova_exception.ImageUnacceptable(image_id=image_id,
                                                       reason=str(e))
            engine_id = self._load_and_tag(image_id, staged.name, ref)
        LOG.info('Loaded Glance image %(id)s into the engine as %(ref)s',
                 {'id': image_id, 'ref': ref})
        return engine_id

    def _load_and_tag(self, image_id, path, ref):
        """Load the archive untagged, then tag it. Until tagged, the image
        holds no tag: the same content loaded for another Glance image may
        lose its last tag meanwhile and the engine then deletes it; the
        load is simply done again."""
        for _attempt in range(LOAD_ATTEMPTS):
            try:
                loaded = set(self._engine.load_image(
                    archive.untagged_stream(path)))
            except exception.EngineRefused as e:
                raise nova_exception.ImageUnacceptable(
                    image_id=image_id,
                    reason='the %s could not load it: %s' % (
                        self._engine.engine_name,
                        e.kwargs.get('reason') or e))
            try:
                return self._tag_loaded(image_id, loaded, ref)
            except exception.ImageNotLoaded:
                LOG.info('The image loaded for Glance image %s was deleted '
                         'before it was tagged; loading it again', image_id)
        raise exception.EngineError(
            engine=self._engine.engine_name,
            action='load Glance image %s' % image_id,
            reason='the loaded image was deleted before it could be tagged, '
                   '%d times' % LOAD_ATTEMPTS)

    def _tag_loaded(self, image_id, loaded, ref):
        """Tag what the engine says it loaded (not what the archive's file
        names claim); anything but one image is refused and removed."""
        if len(loaded) == 1:
            engine_id = next(iter(loaded))
            self._engine.tag_image(engine_id, ref)
            return engine_id
        for engine_id in loaded:
            self._engine.untag_image(engine_id)
        raise nova_exception.ImageUnacceptable(
            image_id=image_id,
            reason='the engine loaded %d images from it, not one' %
                   len(loaded))

    def _download(self, context, image_id, meta, staged):
        _check_room(os.path.dirname(staged.name), meta.get('size'))
        writer = _VerifyingWriter(staged, image_id, meta)
        try:
            self.image_api.download(context, image_id, data=writer)
        except nova_exception.ImageNotFound:
            raise nova_exception.ImageUnacceptable(
                image_id=image_id,
                reason='it was deleted from Glance during the download')
        staged.flush()
        writer.verify()


def check_format(image_meta):
    container_format = _field(image_meta, 'container_format')
    if container_format != DOCKER_CONTAINER_FORMAT:
        raise nova_exception.ImageUnacceptable(
            image_id=image_meta.id,
            reason='container_format is %s; Docker hosts need '
                   'container_format=docker holding docker save output' %
                   (container_format or 'unset'))


def _field(image_meta, name):
    return getattr(image_meta, name) if image_meta.obj_attr_is_set(name) \
        else None


def _check_room(directory, size):
    """Fail before downloading an image the staging disk cannot hold (a
    host problem: another host may have room)."""
    st = os.statvfs(directory)
    free = st.f_bavail * st.f_frsize
    if size and size > free:
        raise exception.StagingFull(directory=directory, size=size,
                                    free=free)


def _registry_auth(path):
    """{registry: credentials} from a file in Docker's config.json format,
    or none."""
    if not path:
        return {}
    try:
        with open(path) as f:
            auths = json.load(f).get('auths') or {}
    except (OSError, ValueError, AttributeError) as e:
        raise nova_exception.InvalidConfiguration(
            '[docker] registry_auth_file %s cannot be read as a Docker '
            'config.json with "auths" (%s)' % (path, e))
    credentials = {}
    for registry, entry in auths.items():
        user, _sep, password = base64.b64decode(
            entry.get('auth') or '').decode().partition(':')
        credentials[registry] = {'username': user, 'password': password,
                                 'serveraddress': registry}
    return credentials


def _image_lock(image_id):
    return lockutils.lock('image-' + image_id,
                          lock_file_prefix='nova-docker-', external=True)


class _VerifyingWriter(object):
    """File-like sink for Glance's download: writes through to the staging
    file, hashes what passes, and logs progress of long downloads."""

    def __init__(self, staged, image_id, meta):
        self._staged = staged
        self._image_id = image_id
        self._expected = None
        algo = meta.get('os_hash_algo')
        if algo and meta.get('os_hash_value') and \
                algo in hashlib.algorithms_available:
            self._expected = (algo, meta['os_hash_value'])
        elif meta.get('checksum'):
            self._expected = ('md5', meta['checksum'])
        self._hash = (hashlib.new(self._expected[0])
                      if self._expected else None)
        self.bytes = 0
        self._started = self._reported = time.monotonic()

    def write(self, chunk):
        self._staged.write(chunk)
        crashpoint.reached(crashpoint.IMAGE_DOWNLOAD)
        if self._hash is not None:
            self._hash.update(chunk)
        self.bytes += len(chunk)
        now = time.monotonic()
        if now - self._reported >= PROGRESS_INTERVAL_SECONDS:
            self._reported = now
            LOG.info('Downloading image %(id)s: %(mb).1f MiB at %(rate).1f '
                     'MiB/s', {'id': self._image_id,
                               'mb': self.bytes / units.Mi,
                               'rate': self.bytes / units.Mi /
                               (now - self._started)})

    def verify(self):
        if not self.bytes:
            raise nova_exception.ImageUnacceptable(
                image_id=self._image_id,
                reason='Glance returned no data for it; upload the output '
                       'of docker save to the image')
        if self._hash is not None and \
                self._hash.hexdigest() != self._expected[1]:
            raise nova_exception.ImageUnacceptable(
                image_id=self._image_id,
                reason='the downloaded data does not match its %s checksum '
                       'in Glance' % self._expected[0])


class _ChunkReader(object):
    """A file-like view of a chunk iterator, for uploaders that read()."""

    def __init__(self, chunks):
        self._chunks = iter(chunks)
        self._buffer = b''

    def __iter__(self):
        if self._buffer:
            yield self._buffer
            self._buffer = b''
        yield from self._chunks

    def read(self, size=-1):
        while size < 0 or len(self._buffer) < size:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._buffer += chunk
        if size < 0:
            size = len(self._buffer)
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data
