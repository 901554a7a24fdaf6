"""Containers: a server's workload and infra containers, listings of this
host's containers, and their event stream."""

import contextlib
import functools
import time

from nova import exception as nova_exception
from oslo_log import log as logging

from nova_docker import exception
from nova_docker import naming

LOG = logging.getLogger(__name__)


class ContainerRow(object):
    """One container of a listing: what power-state sync needs."""

    __slots__ = ('uuid', 'name', 'status')

    def __init__(self, uuid, name, status):
        self.uuid = uuid
        self.name = name
        self.status = status


class ContainerCalls(object):

    # -- containers -------------------------------------------------------

    def create(self, instance_uuid, image_ref, create_args):
        """Create (not start) the instance's container; returns its id."""
        return self.create_named(naming.container_name(instance_uuid),
                                 image_ref, create_args,
                                 'create the container')

    def create_named(self, name, image_ref, create_args, action):
        """Create (not start) a container of an instance as this engine
        needs it, joined to the network namespace its create arguments
        name, if any; returns its id."""
        args = self.dialect.create_args(create_args)
        owner = (args.get('network_mode') or '').partition('container:')[2]
        with self._translated(action, self.image_missing(image_ref)):
            if owner and self.dialect.joined_needs_owner:
                args = self.dialect.joined(
                    args, self.client.api.inspect_container(owner))
            container = self.client.containers.create(
                image_ref, name=name, **args)
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
        except (exception.ContainerStateConflict, exception.EngineError):
            # Docker answers 409, Podman 500 ("container state improper"):
            # the state decides, not the wording.
            if self.inspect(instance_uuid)['State'].get('Running'):
                raise
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
            return self.dialect.record(self.client.api.inspect_container(
                naming.container_name(instance_uuid)))

    def is_running(self, instance_uuid):
        """Whether the container exists and runs (paused counts)."""
        try:
            return bool(self.inspect(instance_uuid)['State'].get('Running'))
        except nova_exception.InstanceNotFound:
            return False

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

    def rejoin(self, instance_uuid, infra_name, name=None):
        """Make the workload container (or the container named name)
        again, with its configuration and its files (committed to a
        temporary image), joined to a new infra container: the engine
        binds a joining container to its namespace owner's id for good.
        Starts it if it was running."""
        name = name or naming.container_name(instance_uuid)
        repository = naming.SNAPSHOT_REPOSITORY + 'rejoin-' + instance_uuid
        with self._translated('make the container again',
                              self._missing(instance_uuid)):
            old = self.client.api.inspect_container(name)
            self.client.api.commit(name, repository=repository,
                                   tag='latest', pause=True)
            config = dict(old['Config'], Image=repository + ':latest')
            config['HostConfig'] = dict(old['HostConfig'],
                                        NetworkMode='container:' + infra_name)
            owner = (self.client.api.inspect_container(infra_name)
                     if self.dialect.joined_needs_owner else None)
            config = self.dialect.rejoined(config, owner)
            self.client.api.remove_container(name, force=True)
            self.client.api.create_container_from_config(config, name)
            if old['State'].get('Running'):
                self.client.api.start(name)
        # The new container keeps the image; only the tag goes.
        self.untag_image(repository + ':latest')
    # -- infra containers (owners of instance network namespaces) -------

    def create_infra(self, instance_uuid, image_ref, create_args):
        """Create and start the instance's infra container; returns its
        network namespace's owner (see start_infra)."""
        name = naming.infra_name(instance_uuid)
        with self._translated('create the infra container',
                              self.image_missing(image_ref)):
            self.client.containers.create(
                image_ref, name=name, **self.dialect.create_args(create_args))
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
                engine=self.engine_name,
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
                    uuid, labels.get(naming.INSTANCE_NAME),
                    self.dialect.status(entry['State']))
        with self._snapshot_lock:
            self._snapshot[host] = (time.monotonic(), rows)
        return rows

    def owned_containers(self, host):
        """{container id: (instance uuid, container name)} of every
        container, workload, infra or rescue, labelled with this compute
        host."""
        with self._translated('list containers'):
            raw = self.client.api.containers(
                all=True, filters={'label': '%s=%s' % (naming.COMPUTE_HOST,
                                                       host)})
        owned = {}
        for entry in raw:
            labels = entry.get('Labels') or {}
            uuid = (labels.get(naming.INSTANCE_UUID)
                    or labels.get(naming.INFRA_FOR)
                    or labels.get(naming.RESCUE_FOR))
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
        filters = {'type': 'container',
                   'event': self.dialect.event_filter(actions),
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


def _close_quietly(stream):
    """Close an event stream whose engine may already be gone."""
    try:
        stream.close()
    except OSError:
        pass
