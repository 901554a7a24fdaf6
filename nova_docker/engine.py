"""The one place that talks to the Docker engine.

Every SDK call goes through here, inside ``_translated``, which turns
engine errors into this driver's Nova exceptions by type and status code.
Containers are addressed by a name derived from the instance uuid, so each
operation is one engine call.
"""

import base64
import contextlib
import datetime
import functools
import json
import socket
import struct
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
        self._last_info = None
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

    def accepts_connections(self):
        """Whether the engine takes a new connection. A stopping engine
        first closes its socket, then stops its containers while still
        answering on connections opened before: deaths seen then are the
        engine's doing, not the workloads'."""
        try:
            with self._translated('answer'):
                client = docker.APIClient(
                    base_url=self.url, version=self.api_version,
                    timeout=self._timeout, tls=self._tls)
                try:
                    client.ping()
                finally:
                    client.close()
        except exception.EngineUnavailable:
            return False
        return True

    def info(self):
        with self._translated('describe itself'):
            self._last_info = self.client.info()
            return self._last_info

    def known_info(self):
        """info(), or while the engine is away its last answer: the host's
        resources stay what they were, and Nova's resource tracker (which
        every build's claim goes through) keeps working."""
        try:
            return self.info()
        except exception.EngineUnavailable:
            if self._last_info is None:
                raise
            return self._last_info

    def identity(self, timeout):
        """What tells this engine apart from itself before a restart, or
        None if it does not answer within ``timeout`` seconds.

        The engine's API has no start time or boot id. For an engine on a
        local socket, the serving process (its pid and start time, from the
        socket's peer credentials) is one; for a remote engine the caller
        sees a restart only as a time the engine did not answer.
        """
        try:
            probe = docker.APIClient(
                base_url=self.url, version=self._client_version(),
                timeout=timeout, tls=self._tls)
            with contextlib.closing(probe):
                engine_id = probe.info()['ID']
        except (docker_errors.DockerException,
                requests.exceptions.RequestException):
            return None
        return engine_id, _socket_owner(self.url, timeout)

    def _client_version(self):
        client = self._client
        return client.api.api_version if client is not None else 'auto'

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
        """Freeze the container; one already paused is left so."""
        try:
            with self._translated('pause', self._missing(instance_uuid)):
                self.client.api.pause(naming.container_name(instance_uuid))
        except (exception.ContainerStateConflict, exception.EngineError):
            # Docker 20.10 answers 500 "already paused".
            if not self.inspect(instance_uuid)['State'].get('Paused'):
                raise
            LOG.debug('Container of %s was already paused', instance_uuid)

    def unpause(self, instance_uuid):
        """Thaw the container; one already running is left so."""
        try:
            with self._translated('unpause', self._missing(instance_uuid)):
                self.client.api.unpause(naming.container_name(instance_uuid))
        except (exception.ContainerStateConflict, exception.EngineError):
            state = self.inspect(instance_uuid)['State']
            if state.get('Paused') or not state.get('Running'):
                raise
            LOG.debug('Container of %s was not paused', instance_uuid)

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

    # -- containers kept aside during a resize ---------------------------

    def rename(self, name, new_name):
        with self._translated('rename %s' % name,
                              functools.partial(
                                  nova_exception.InstanceNotFound,
                                  instance_id=name)):
            self.client.api.rename(name, new_name)

    def exists(self, name):
        try:
            with self._translated('inspect %s' % name,
                                  functools.partial(
                                      nova_exception.InstanceNotFound,
                                      instance_id=name)):
                self.client.api.inspect_container(name)
            return True
        except nova_exception.InstanceNotFound:
            return False

    def remove_named(self, name):
        """Remove a container by name; a missing one is fine."""
        try:
            with self._translated('remove %s' % name,
                                  functools.partial(
                                      nova_exception.InstanceNotFound,
                                      instance_id=name)):
                self.client.api.remove_container(name, force=True)
        except nova_exception.InstanceNotFound:
            LOG.debug('Container %s was already gone', name)

    def stop_infra(self, instance_uuid):
        """Stop the infra container (its namespace goes); keep it."""
        try:
            with self._translated('stop the infra container',
                                  self._missing(instance_uuid)):
                self.client.api.stop(naming.infra_name(instance_uuid),
                                     timeout=0)
        except nova_exception.InstanceNotFound:
            LOG.debug('Infra container of %s was already gone',
                      instance_uuid)

    def rejoin(self, instance_uuid, infra_name):
        """Make the workload container again, with its configuration and
        its files (committed to a temporary image), joined to a new infra
        container: the engine binds a joining container to its namespace
        owner's id for good. Starts it if it was running."""
        name = naming.container_name(instance_uuid)
        repository = naming.SNAPSHOT_REPOSITORY + 'rejoin-' + instance_uuid
        with self._translated('make the container again',
                              self._missing(instance_uuid)):
            old = self.client.api.inspect_container(name)
            self.client.api.commit(name, repository=repository,
                                   tag='latest', pause=True)
            config = dict(old['Config'], Image=repository + ':latest')
            # The engine refuses these on a joining container.
            for key in ('Hostname', 'Domainname'):
                config.pop(key, None)
            config['HostConfig'] = dict(old['HostConfig'],
                                        NetworkMode='container:' + infra_name)
            self.client.api.remove_container(name, force=True)
            self.client.api.create_container_from_config(config, name)
            if old['State'].get('Running'):
                self.client.api.start(name)
        # The new container keeps the image; only the tag goes.
        self.untag_image(repository + ':latest')
    # -- inside a container: files, commands, statistics ----------------

    def get_archive(self, instance_uuid, path, max_bytes):
        """A tar of path in the container (created, running or stopped),
        or None if the path does not exist. Refuses more than max_bytes."""
        name = naming.container_name(instance_uuid)
        try:
            with self._translated('read %s' % path,
                                  _PathMissing):
                stream, _stat = self.client.api.get_archive(name, path)
                chunks, size = [], 0
                for chunk in stream:
                    size += len(chunk)
                    if size > max_bytes:
                        raise exception.EngineRefused(
                            action='read %s' % path,
                            reason='larger than %d bytes' % max_bytes)
                    chunks.append(chunk)
        except _PathMissing:
            return None
        return b''.join(chunks)

    def path_stat(self, instance_uuid, path):
        """The engine's stat of path in the container ({name, size, mode,
        mtime, linkTarget}; the mode has Go's file-mode bits), or None if
        there is no such path."""
        api = self.client.api
        try:
            with self._translated('look at %s' % path, _PathMissing):
                # HEAD /containers/{id}/archive: the stat alone, without the
                # tar that get_archive streams; the SDK has no call for it.
                response = api.head(
                    api._url('/containers/{0}/archive',
                             naming.container_name(instance_uuid)),
                    params={'path': path})
                api._raise_for_status(response)
        except _PathMissing:
            return None
        return json.loads(base64.b64decode(
            response.headers['X-Docker-Container-Path-Stat']))

    def put_archive(self, instance_uuid, path, data):
        """Unpack the tar data at path in the container's file system (the
        engine resolves links inside the container, never on the host)."""
        with self._translated('write into the container at %s' % path,
                              self._missing(instance_uuid)):
            self.client.api.put_archive(
                naming.container_name(instance_uuid), path, data)

    def exec(self, instance_uuid, command, user='', environment=None,
             detach=False):
        """Run command in the running container; returns (exit code,
        output), or (None, b'') when detached."""
        with self._translated('run %s in the container' % command[0],
                              self._missing(instance_uuid)):
            exec_id = self.client.api.exec_create(
                naming.container_name(instance_uuid), command, user=user,
                environment=environment)['Id']
            output = self.client.api.exec_start(exec_id, detach=detach)
            if detach:
                return None, b''
            code = self.client.api.exec_inspect(exec_id)['ExitCode']
        return code, output

    def stats(self, instance_uuid):
        """One sample of the container's statistics (CPU, memory, network,
        block I/O), without the engine's second sampling wait."""
        with self._translated('read statistics',
                              self._missing(instance_uuid)):
            return self.client.api.stats(
                naming.container_name(instance_uuid), stream=False,
                one_shot=True)

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

    def owned_containers(self, host):
        """{container id: (instance uuid, container name)} of every
        container, workload or infra, labelled with this compute host."""
        with self._translated('list containers'):
            raw = self.client.api.containers(
                all=True, filters={'label': '%s=%s' % (naming.COMPUTE_HOST,
                                                       host)})
        owned = {}
        for entry in raw:
            labels = entry.get('Labels') or {}
            uuid = (labels.get(naming.INSTANCE_UUID)
                    or labels.get(naming.INFRA_FOR))
            if uuid:
                owned[entry['Id']] = (uuid, (entry.get('Names') or [''])[0]
                                      .lstrip('/'))
        return owned

    def remove_by_id(self, container_id):
        """Remove one container found by owned_containers, by its id (a
        name may have been taken again since); a missing one is fine."""
        try:
            with self._translated('remove container %s' % container_id,
                                  self._missing(container_id)):
                self.client.api.remove_container(container_id, force=True)
        except nova_exception.InstanceNotFound:
            LOG.debug('Container %s was already gone', container_id)

    def cached_list_host(self, host, max_age):
        """The last listing if younger than max_age seconds, else a new
        one: Nova's power-state sync asks for every instance in a burst."""
        with self._snapshot_lock:
            taken_at, rows = self._snapshot.get(host, (None, None))
        if taken_at is not None and time.monotonic() - taken_at < max_age:
            return rows
        return self.list_host(host)

    def forget_listing(self, host):
        """Drop the cached listing: a container of this host changed."""
        with self._snapshot_lock:
            self._snapshot.pop(host, None)

    # -- events -----------------------------------------------------------

    @contextlib.contextmanager
    def container_events(self, host, actions, since=None):
        """The engine's stream of ``actions`` of this host's containers
        (decoded dicts), from engine time ``since`` (nanoseconds) on, or
        from now. The iteration ends when the engine goes away or when
        close() is called from another thread; the stream is closed when
        the block ends.
        """
        filters = {'type': 'container', 'event': list(actions),
                   'label': '%s=%s' % (naming.COMPUTE_HOST, host)}
        if since is not None:
            since = '%d.%09d' % divmod(since, 10 ** 9)
        with self._translated('follow the event stream'):
            stream = self.client.api.events(since=since, filters=filters,
                                            decode=True)
        try:
            yield stream
        finally:
            _close_quietly(stream)

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

    def image_layers(self, ref):
        """The image's layer diff ids, base first."""
        with self._translated('inspect the image', _image_missing(ref)):
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


def _socket_owner(url, timeout):
    """(pid, start time) of the process serving a unix:// engine socket,
    or None (a TCP engine, or a process this host's /proc does not show)."""
    if not url.startswith('unix://'):
        return None
    creds = struct.Struct('3i')
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(url[len('unix://'):])
            pid, _uid, _gid = creds.unpack(sock.getsockopt(
                socket.SOL_SOCKET, socket.SO_PEERCRED, creds.size))
        with open('/proc/%d/stat' % pid) as stat:
            # Field 22, counted after the parenthesised command name.
            started = stat.read().rsplit(')', 1)[1].split()[19]
    except (OSError, IndexError):
        return None
    return pid, started


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


def _close_quietly(stream):
    """Close an event stream whose engine may already be gone."""
    try:
        stream.close()
    except OSError:
        pass


class _PathMissing(Exception):
    """A path that is not in a container's file system."""


def _image_missing(ref):
    return functools.partial(exception.ImageNotLoaded, ref=ref)


def _explain(error):
    """The engine's own words for an API error."""
    return error.explanation or str(error)
