"""Images: load, pull, tag, commit, save, untag."""

import datetime

from docker import auth as docker_auth
from docker import errors as docker_errors
from docker import utils as docker_utils
from oslo_log import log as logging

from nova_docker import exception
from nova_docker import naming

LOG = logging.getLogger(__name__)

SAVE_CHUNK = 1024 * 1024


class ImageCalls(object):

    # -- images -----------------------------------------------------------

    def image(self, ref):
        """(image id, Config) of the image ref names, or None if absent.
        Containers are created from the id: a tag may move meanwhile."""
        try:
            with self._translated('inspect the image',
                                  self.image_missing(ref)):
                details = self.client.api.inspect_image(ref)
        except exception.ImageNotLoaded:
            return None
        return details['Id'], details['Config'] or {}

    def image_id(self, ref):
        try:
            with self._translated('inspect the image',
                                  self.image_missing(ref)):
                return self.client.api.inspect_image(ref)['Id']
        except exception.ImageNotLoaded:
            return None

    def image_layers(self, ref):
        """The image's layer diff ids, base first."""
        with self._translated('inspect the image', self.image_missing(ref)):
            return self.client.api.inspect_image(ref)['RootFS']['Layers']

    def load_image(self, fileobj):
        """Stream a ``docker save`` archive into the engine; returns what
        the engine says it loaded (image ids, or names for tagged loads).
        Not the SDK's images.load: it inspects each image afterwards,
        which fails if an untagged one is deleted meanwhile."""
        loaded = []
        with self._translated('load the image'):
            for chunk in self.client.api.load_image(fileobj):
                if 'errorDetail' in chunk:
                    raise docker_errors.ImageLoadError(
                        chunk['errorDetail'].get('message'))
                line = chunk.get('stream') or ''
                for prefix in ('Loaded image ID: ', 'Loaded image: '):
                    if line.startswith(prefix):
                        loaded.append(line[len(prefix):].strip())
        return loaded

    @staticmethod
    def parse_reference(reference):
        """(registry, repository) of an image reference, as the engine
        reads it: 'host:5000/app:1' -> ('host:5000', 'app'),
        'app@sha256:...' -> ('docker.io', 'app')."""
        repository, _tag = docker_utils.parse_repository_tag(reference)
        try:
            return docker_auth.resolve_repository_name(repository)
        except docker_errors.InvalidRepository as e:
            raise exception.BadReference(reference=reference,
                                         reason=e) from e

    def pull_image(self, reference, credentials):
        """Pull reference (registry/repository:tag or @digest) with the
        given credentials ({} for none) and return its id. The SDK reads
        the service user's Docker config when given no credentials: it is
        always given some."""
        repository, tag = docker_utils.parse_repository_tag(reference)
        with self._translated('pull %s' % reference):
            return self.client.images.pull(
                repository, tag=tag or 'latest',
                auth_config=dict(credentials)).id

    def tag_image(self, image_id, ref):
        repository, tag = ref.rsplit(':', 1)
        with self._translated('tag the image', self.image_missing(image_id)):
            self.client.api.tag(image_id, repository, tag)

    def tagged_images(self, repository):
        """{tag: when it was tagged} for the tags in repository."""
        with self._translated('list images'):
            images = self.client.api.images(
                filters={'reference': repository + '*'})
            tagged = {}
            for image in images:
                details = self.client.api.inspect_image(image['Id'])
                tagged_at = _parse_time(
                    (details.get('Metadata') or {}).get('LastTagTime'))
                for tag in image.get('RepoTags') or []:
                    tag = self.dialect.short_tag(tag)
                    if tag.startswith(repository):
                        tagged[tag] = tagged_at
        return tagged

    def commit(self, instance_uuid, ref, blank_labels=()):
        """Commit the container's filesystem as image ``ref``. The engine
        pauses the container meanwhile, so the copy is consistent. The
        engine copies the container's labels into the image and has no
        way to drop one: blank_labels are committed with empty values.
        Returns the image id."""
        repository, tag = ref.rsplit(':', 1)
        with self._translated('commit', self._missing(instance_uuid)):
            return self.client.api.commit(
                naming.container_name(instance_uuid), repository=repository,
                tag=tag, pause=True,
                **self.dialect.commit_args(blank_labels))['Id']

    def save_image(self, ref):
        """The ``docker save`` archive of ``ref``, as a stream of chunks."""
        with self._translated('save the image', self.image_missing(ref)):
            return self.client.api.get_image(ref, chunk_size=SAVE_CHUNK)

    def untag_image(self, ref):
        """Drop a tag; the engine deletes the image with its last tag unless
        a container still uses it. Returns whether the tag went; a tag
        already gone is fine."""
        try:
            with self._translated('remove the image',
                                  self.image_missing(ref)):
                self.client.api.remove_image(ref)
            return True
        except (exception.ImageNotLoaded,
                exception.ContainerStateConflict) as e:
            LOG.debug('Image %s not removed: %s', ref, e)
            return False


def _parse_time(stamp):
    """The engine's RFC 3339 time (nanoseconds, Z) as an aware datetime."""
    if not stamp or stamp.startswith('0001-'):
        return None
    stamp = stamp.replace('Z', '+00:00')
    if '.' in stamp:   # Python takes at most microseconds
        head, rest = stamp.split('.', 1)
        digits = rest[:len(rest) - 6]
        stamp = '%s.%s%s' % (head, digits[:6].ljust(6, '0'), rest[-6:])
    return datetime.datetime.fromisoformat(stamp)
