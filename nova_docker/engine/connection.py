"""The engine connection and the one translation of engine errors.

Every SDK call of the engine room runs inside ``_translated``, which turns
engine errors into this driver's Nova exceptions by type and status code.
"""

import contextlib
import functools
import socket
import struct
import threading

import docker
from docker import errors as docker_errors
from docker import tls as docker_tls
from nova import exception as nova_exception
from oslo_log import log as logging
import requests

from nova_docker import exception
from nova_docker.engine import dialect as dialects

LOG = logging.getLogger(__name__)


class Connection(object):

    def __init__(self, url, timeout=120, tls=None):
        self.url = url
        self._timeout = timeout
        self._tls = tls
        self._client = None
        self._dialect = None
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
            client = docker.DockerClient(
                base_url=self.url, version='auto', timeout=self._timeout,
                tls=self._tls)
            version = client.version()
            self._dialect = dialects.detect(version)
            self._client = client
        LOG.info('Engine at %s: %s %s (API %s)', self.url,
                 self._dialect.name, version.get('Version'),
                 client.api.api_version)
        return self

    @property
    def client(self):
        if self._client is None:
            self.connect()
        return self._client

    @property
    def dialect(self):
        """How this engine's API differs (engine.dialect), known once
        connected."""
        if self._dialect is None:
            self.connect()
        return self._dialect

    @property
    def engine_name(self):
        """What faults and logs call this engine ('Docker engine', ...):
        the engine's own kind once it has answered (kept while it is
        away), a neutral name before."""
        if self._dialect is None:
            return dialects.UNKNOWN_ENGINE_NAME
        return self._dialect.engine_name

    def _unavailable(self, reason):
        service = (dialects.UNKNOWN_ENGINE_SERVICE if self._dialect is None
                   else self._dialect.service)
        return exception.EngineUnavailable(
            engine=self.engine_name, url=self.url, reason=reason,
            service=service)

    def image_missing(self, ref):
        """The not_found of ``_translated`` for an image reference."""
        return lambda: exception.ImageNotLoaded(ref=ref,
                                                engine=self.engine_name)

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
                marker = self.dialect.restart_marker(probe)
        except (docker_errors.DockerException,
                requests.exceptions.RequestException,
                exception.EngineUnavailable):
            return None
        return marker, _socket_owner(self.url, timeout)

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
                    engine=self.engine_name, action=action,
                    reason=_explain(e)) from e
            raise not_found() from e
        except docker_errors.APIError as e:
            status = e.status_code
            if not_found is not None and _image_vanished(e):
                raise not_found() from e
            if status == 409:
                raise exception.ContainerStateConflict(
                    action=action, reason=_explain(e)) from e
            if status is not None and 400 <= status < 500:
                raise exception.EngineRefused(
                    engine=self.engine_name, action=action,
                    reason=_explain(e)) from e
            raise exception.EngineError(
                engine=self.engine_name, action=action,
                reason=_explain(e)) from e
        except docker_errors.ImageLoadError as e:
            raise exception.EngineRefused(
                engine=self.engine_name, action=action, reason=str(e)) from e
        except (requests.exceptions.ConnectionError,
                requests.exceptions.Timeout) as e:
            raise self._unavailable(type(e).__name__) from e
        except docker_errors.DockerException as e:
            # The SDK raises this bare class when it cannot reach the engine
            # to negotiate the API version.
            raise self._unavailable(e) from e

    @staticmethod
    def _missing(instance_uuid):
        return functools.partial(nova_exception.InstanceNotFound,
                                 instance_id=instance_uuid)


def _image_vanished(error):
    """dockerd 20.10 answers 500 "unrecognized image ID" when the image a
    reference named was deleted (through another of its tags) while the
    request ran: the reference is gone as surely as on a 404."""
    return 'unrecognized image ID' in _explain(error)


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


def _explain(error):
    """The engine's own words for an API error."""
    return error.explanation or str(error)
