"""The one place that talks to the Docker engine.

Every SDK call goes through here, inside ``_translated``, which turns
engine errors into this driver's Nova exceptions by type and status code.
Containers are addressed by a name derived from the instance uuid, so each
operation is one engine call.
"""

import contextlib
import datetime
import functools
import threading
import time

import docker
from docker import auth as docker_auth
from docker import errors as docker_errors
from docker import tls as docker_tls
from docker import utils as docker_utils
from nova import exception as nova_exception
from oslo_log import log as logging
import requests

from nova_docker import exception
from nova_docker import naming

LOG = logging.getLogger(__name__)

SAVE_CHUNK = 1024 * 1024


class ContainerRow(object):
    """One container of a listing: what power-state sync needs."""

    __slots__ = ('uuid', 'name', 'status')

    def __init__(self, uuid, name, status):
        self.uuid = uuid
        self.name = name
        self.status = status


class Engine(object):

    def __init__(self, url, timeout=120, tls=None):
        self.url = url
        self._timeout = timeout
        self._tls = tls
        self._client = None
        self._snapshot = {}          # host -> (taken_at, {uuid: row})
        self._snapshot_lock = threading.Lock()

    @classmethod
    def from_conf(cls, conf):
        opts = conf.docker
        tls = None
        if opts.tls:
            client_cert = None
            if opts.tls_client_cert:
                client_cert = (opts.tls_client_cert, opts.tls_client_key)
            tls = docker_tls.TLSConfig(
                client_cert=client_cert, ca_cert=opts.tls_ca_cert,
                verify=bool(opts.tls_ca_cert))
        return cls(opts.api_url, timeout=opts.api_timeout, tls=tls)

    # -- connection -------------------------------------------------------

    def connect(self):
        """Open the client, negotiating the API version with the engine."""
        with self._translated('connect'):
            self._client = docker.DockerClient(
                base_url=self.url, version='auto', timeout=self._timeout,
                tls=self._tls)
        return self

    @property
    def client(self):
        if self._client is None:
            self.connect()
        return self._client

    @property
    def api_version(self):
        return self.client.api.api_version

    def info(self):
        with self._translated('describe itself'):
            return self.client.info()

    # -- errors -----------------------------------------------------------

    @contextlib.contextmanager
    def _translated(self, action, not_found=None):
        """Translate SDK and transport errors into Nova exceptions.

        :param not_found: callable making the exception to raise on a 404,
            when the caller has a better name for "missing" than a generic
            engine error.
        """
        try:
            yield
        except docker_errors.NotFound as e:
            if not_found is None:
                raise exception.EngineError(
                    action=action, reason=_explain(e)) from e
            raise not_found() from e
        except docker_errors.APIError as e:
            status = e.status_code
            if status == 409:
                raise exception.ContainerStateConflict(
                    action=action, reason=_explain(e)) from e
            if status is not None and 400 <= status < 500:
                raise exception.EngineRefused(
                    action=action, reason=_explain(e)) from e
            raise exception.EngineError(
                action=action, reason=_explain(e)) from e
        except docker_errors.ImageLoadError as e:
            raise exception.EngineRefused(action=action, reason=str(e)) from e
        except (requests.exceptions.ConnectionError,
                requests.exceptions.Timeout) as e:
            raise exception.EngineUnavailable(
                url=self.url, reason=type(e).__name__) from e
        except docker_errors.DockerException as e:
            # The SDK raises this bare class when it cannot reach the engine
            # to negotiate the API version.
            raise exception.EngineUnavailable(url=self.url, reason=e) from e

    @staticmethod
    def _missing(instance_uuid):
        return functools.partial(nova_exception.InstanceNotFound,
                                 instance_id=instance_uuid)

    # -- containers -------------------------------------------------------

    def create(self, instance_uuid, image_ref, create_args):
        """Create (not start) the instance's container; returns its id."""
        with self._translated('create the container',
                              _image_missing(image_ref)):
            container = self.client.containers.create(
                image_ref, name=naming.container_name(instance_uuid),
                **create_args)
        return container.id

    def start(self, instance_uuid):
        with self._translated('start', self._missing(instance_uuid)):
            self.client.api.start(naming.container_name(instance_uuid))

    def stop(self, instance_uuid, timeout):
        """Graceful stop: SIGTERM, then SIGKILL after ``timeout`` seconds.
        Stopping a stopped container is not an error."""
        with self._translated('stop', self._missing(instance_uuid)):
            self.client.api.stop(naming.container_name(instance_uuid),
                                 timeout=timeout)

    def kill(self, instance_uuid):
        """SIGKILL now. Killing a stopped container is not an error."""
        try:
            with self._translated('kill', self._missing(instance_uuid)):
                self.client.api.kill(naming.container_name(instance_uuid))
        except exception.ContainerStateConflict:
            LOG.debug('Container of %s was not running', instance_uuid)

    def restart(self, instance_uuid, timeout):
        with self._translated('restart', self._missing(instance_uuid)):
            self.client.api.restart(naming.container_name(instance_uuid),
                                    timeout=timeout)

    def pause(self, instance_uuid):
        with self._translated('pause', self._missing(instance_uuid)):
            self.client.api.pause(naming.container_name(instance_uuid))

    def unpause(self, instance_uuid):
        with self._translated('unpause', self._missing(instance_uuid)):
            self.client.api.unpause(naming.container_name(instance_uuid))

    def remove(self, instance_uuid):
        """Remove the container whatever its state, with the anonymous
        volumes the engine made for its image's VOLUMEs; a missing one is
        fine."""
        try:
            with self._translated('remove', self._missing(instance_uuid)):
                self.client.api.remove_container(
                    naming.container_name(instance_uuid), force=True,
                    v=True)
        except nova_exception.InstanceNotFound:
            LOG.debug('Container of %s was already gone', instance_uuid)

    def inspect(self, instance_uuid):
        """The container's full engine record (State, HostConfig, ...)."""
        with self._translated('inspect', self._missing(instance_uuid)):
            return self.client.api.inspect_container(
                naming.container_name(instance_uuid))

    def logs(self, instance_uuid, max_bytes):
        """The container's stdout and stderr, at most the last max_bytes."""
        with self._translated('read the logs', self._missing(instance_uuid)):
            output = self.client.api.logs(
                naming.container_name(instance_uuid), stdout=True,
                stderr=True)
        return output[-max_bytes:]

    # -- infra containers (owners of instance network namespaces) -------

    def create_infra(self, instance_uuid, image_ref, create_args):
        """Create and start the instance's infra container; returns its
        network namespace's owner (see start_infra)."""
        name = naming.infra_name(instance_uuid)
        with self._translated('create the infra container',
                              _image_missing(image_ref)):
            self.client.containers.create(image_ref, name=name,
                                          **create_args)
        return self.start_infra(instance_uuid)

    def start_infra(self, instance_uuid):
        """Start the infra container if it is not running; returns its
        namespace's owner, [pid of its init, container id]: the
        privileged side checks the pid still belongs to that container.
        A fresh start means a fresh, empty network namespace."""
        name = naming.infra_name(instance_uuid)
        with self._translated('start the infra container',
                              self._missing(instance_uuid)):
            self.client.api.start(name)
            details = self.client.api.inspect_container(name)
        state = details['State']
        if not state.get('Running') or not state.get('Pid'):
            raise exception.EngineError(
                action='start the infra container %s' % name,
                reason='it is %s' % state.get('Status'))
        return [state['Pid'], details['Id']]

    def infra_netns(self, instance_uuid):
        """Owner ([pid, container id]) of the running infra container's
        namespace, or None if it is stopped or missing."""
        try:
            with self._translated('inspect the infra container',
                                  self._missing(instance_uuid)):
                details = self.client.api.inspect_container(
                    naming.infra_name(instance_uuid))
        except nova_exception.InstanceNotFound:
            return None
        if not details['State'].get('Running'):
            return None
        return [details['State']['Pid'], details['Id']]

    def remove_infra(self, instance_uuid):
        """Remove the infra container (its namespace goes with it); a
        missing one is fine."""
        try:
            with self._translated('remove the infra container',
                                  self._missing(instance_uuid)):
                self.client.api.remove_container(
                    naming.infra_name(instance_uuid), force=True)
        except nova_exception.InstanceNotFound:
            LOG.debug('Infra container of %s was already gone',
                      instance_uuid)

    # -- listings ---------------------------------------------------------

    def list_host(self, host):
        """Rows for every container this compute host owns (one call)."""
        with self._translated('list containers'):
            raw = self.client.api.containers(
                all=True, filters={'label': '%s=%s' % (naming.COMPUTE_HOST,
                                                       host)})
        rows = {}
        for entry in raw:
            labels = entry.get('Labels') or {}
            uuid = labels.get(naming.INSTANCE_UUID)
            if uuid:
                rows[uuid] = ContainerRow(
                    uuid, labels.get(naming.INSTANCE_NAME), entry['State'])
        with self._snapshot_lock:
            self._snapshot[host] = (time.monotonic(), rows)
        return rows

    def cached_list_host(self, host, max_age):
        """The last listing if younger than max_age seconds, else a new
        one: Nova's power-state sync asks for every instance in a burst."""
        with self._snapshot_lock:
            taken_at, rows = self._snapshot.get(host, (None, None))
        if taken_at is not None and time.monotonic() - taken_at < max_age:
            return rows
        return self.list_host(host)

    # -- images -----------------------------------------------------------

    def image(self, ref):
        """(image id, Config) of the image ref names, or None if absent.
        Containers are created from the id: a tag may move meanwhile."""
        try:
            with self._translated('inspect the image',
                                  _image_missing(ref)):
                details = self.client.api.inspect_image(ref)
        except exception.ImageNotLoaded:
            return None
        return details['Id'], details['Config'] or {}

    def image_id(self, ref):
        try:
            with self._translated('inspect the image',
                                  _image_missing(ref)):
                return self.client.api.inspect_image(ref)['Id']
        except exception.ImageNotLoaded:
            return None

    def load_image(self, fileobj):
        """Stream a ``docker save`` archive into the engine."""
        with self._translated('load the image'):
            return [image.id for image in self.client.images.load(fileobj)]

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
        with self._translated('tag the image', _image_missing(image_id)):
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
                conf={'Labels': {label: '' for label in blank_labels}})['Id']

    def save_image(self, ref):
        """The ``docker save`` archive of ``ref``, as a stream of chunks."""
        with self._translated('save the image', _image_missing(ref)):
            return self.client.api.get_image(ref, chunk_size=SAVE_CHUNK)

    def untag_image(self, ref):
        """Drop a tag; the engine deletes the image with its last tag unless
        a container still uses it. Returns whether the tag went; a tag
        already gone is fine."""
        try:
            with self._translated('remove the image',
                                  _image_missing(ref)):
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


def _image_missing(ref):
    return functools.partial(exception.ImageNotLoaded, ref=ref)


def _explain(error):
    """The engine's own words for an API error."""
    return error.explanation or str(error)
