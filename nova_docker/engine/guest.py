"""Inside a container: files, commands, statistics."""

import base64
import functools
import json

from nova import exception as nova_exception
from oslo_log import log as logging

from nova_docker import exception
from nova_docker import naming

LOG = logging.getLogger(__name__)


class GuestCalls(object):

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
                            engine=self.engine_name,
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
        return self.dialect.path_stat(json.loads(base64.b64decode(
            response.headers['X-Docker-Container-Path-Stat'])))

    def put_archive(self, instance_uuid, path, data):
        """Unpack the tar data at path in the container's file system (the
        engine resolves links inside the container, never on the host)."""
        with self._translated('write into the container at %s' % path,
                              self._missing(instance_uuid)):
            self.client.api.put_archive(
                naming.container_name(instance_uuid), path, data)

    def exec(self, instance_uuid, command, user='', environment=None,
             detach=False, name=None):
        """Run command in the running container (or the instance's
        container called name); returns (exit code, output), or (None,
        b'') when detached."""
        with self._translated('run %s in the container' % command[0],
                              self._missing(instance_uuid)):
            exec_id = self.client.api.exec_create(
                name or naming.container_name(instance_uuid), command,
                user=user, environment=environment)['Id']
            output = self.client.api.exec_start(exec_id, detach=detach)
            if detach:
                return None, b''
            code = self.client.api.exec_inspect(exec_id)['ExitCode']
        return code, output

    def open_terminal(self, instance_uuid, command, environment=None):
        """Run command in the running container on a terminal of its own
        (as the image's user); returns the engine connection carrying the
        terminal's bytes both ways. Closing it ends the process."""
        with self._translated('open a terminal',
                              self._missing(instance_uuid)):
            exec_id = self.client.api.exec_create(
                naming.container_name(instance_uuid), command, stdin=True,
                tty=True, environment=environment)['Id']
            return Terminal(
                self.client.api.exec_start(exec_id, tty=True, socket=True),
                functools.partial(self._hang_up, instance_uuid, exec_id))

    def _hang_up(self, instance_uuid, exec_id):
        """SIGHUP to a terminal's process, as a terminal's hangup sends
        (the kernel passes it on to the job in the foreground): the engine
        keeps an exec'd process running when its connection closes, and
        has no call to end one."""
        try:
            with self._translated('hang up a terminal',
                                  self._missing(instance_uuid)):
                process = self.client.api.exec_inspect(exec_id)
            if not process['Running']:
                return
            pid = _pid_in_container(process['Pid'], process['ContainerID'])
            if pid is None:
                LOG.warning('Console process %s of %s still runs: it is not '
                            'on this host (engine at %s), so its pid in the '
                            'container is unknown', process['Pid'],
                            instance_uuid, self.url)
                return
            # The shell's own kill: any image with a console shell has it.
            code, output = self.exec(instance_uuid,
                                     ['/bin/sh', '-c', 'kill -HUP %d' % pid])
            if code:
                LOG.warning('Console process %d of %s still runs: kill '
                            'answered %s', pid, instance_uuid, output)
        except (nova_exception.InstanceNotFound,
                exception.ContainerStateConflict):
            # Gone or stopped with its container.
            pass
        except (exception.EngineError, exception.EngineRefused,
                exception.EngineUnavailable) as e:
            LOG.warning('Console process of %s may still run: %s',
                        instance_uuid, e)

    def attach_terminal(self, instance_uuid):
        """The workload's own terminal (a container created with one and
        stdin open): the engine connection carrying its bytes both ways,
        which the caller closes. Other connections see the same terminal;
        closing leaves the workload running."""
        with self._translated('attach to the workload',
                              self._missing(instance_uuid)):
            return Terminal(self.client.api.attach_socket(
                naming.container_name(instance_uuid),
                params={'stdin': 1, 'stdout': 1, 'stderr': 1,
                        'stream': 1}))

    def stats(self, instance_uuid):
        """One sample of the container's statistics (CPU, memory, network,
        block I/O), without the engine's second sampling wait."""
        with self._translated('read statistics',
                              self._missing(instance_uuid)):
            return self.client.api.stats(
                naming.container_name(instance_uuid), stream=False,
                one_shot=True)


class Terminal(object):
    """A terminal's engine connection: ``socket`` carries its raw bytes
    (with a terminal the engine does not frame them)."""

    def __init__(self, handle, hang_up=None):
        # The SDK hands out a file object over the socket (its own
        # reference keeps the HTTP response, and so the socket, alive).
        self._handle = handle
        self._hang_up = hang_up
        self.socket = getattr(handle, '_sock', handle)
        # The client's request timeout must not end an idle session.
        self.socket.settimeout(None)

    def close(self):
        self._handle.close()
        self.socket.close()
        if self._hang_up is not None:
            self._hang_up()


def _pid_in_container(host_pid, container_id):
    """The pid in its container of a process the engine names by its host
    pid, or None when this host's /proc does not show that process in that
    container (an engine on another host, a pid already reused)."""
    try:
        with open('/proc/%d/cgroup' % host_pid) as cgroup:
            if container_id not in cgroup.read():
                return None
        with open('/proc/%d/status' % host_pid) as status:
            for line in status:
                if line.startswith('NSpid:'):
                    # Host pid first, the container's own last.
                    return int(line.split()[-1])
    except (OSError, ValueError):
        return None
    return None


class _PathMissing(Exception):
    """A path that is not in a container's file system."""
