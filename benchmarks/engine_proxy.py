"""A counting proxy between one client and the Docker engine's socket.

Listens on a unix socket of its own, forwards every byte to the engine's
socket and records each HTTP request the client sends (time, method,
path): what the client really asked of the engine, whatever code made
the call. Request bodies (Content-Length or chunked) are passed through
unparsed; a connection upgraded for attach or exec streams raw from then on.
"""

import os
import re
import socket
import threading
import time

# /v1.41/containers/<id or name>/json -> /containers/{}/json
_VERSION = re.compile(r'^/v[0-9.]+')
_OBJECT = re.compile(r'^/(containers|images|networks|exec|volumes)/'
                     r'(?!json$|create$|prune$|load$)[^/]+')


def kind(method, target):
    """A request's kind: method and path without version, ids or query."""
    path = _VERSION.sub('', target.split('?', 1)[0])
    return '%s %s' % (method, _OBJECT.sub(r'/\1/{}', path))


class CountingProxy(object):

    def __init__(self, path, engine_socket='/var/run/docker.sock'):
        self.path = path
        self.engine_socket = engine_socket
        self.requests = []          # (epoch time, kind), in arrival order
        self._lock = threading.Lock()
        self._server = None

    @property
    def url(self):
        return 'unix://' + self.path

    def __enter__(self):
        if os.path.exists(self.path):
            os.unlink(self.path)
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(self.path)
        self._server.listen(64)
        threading.Thread(target=self._accept, daemon=True,
                         name='engine-proxy').start()
        return self

    def __exit__(self, *exc):
        self._server.close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass

    def between(self, start, end):
        """Kinds of the requests that arrived between two epoch times."""
        with self._lock:
            return [k for t, k in self.requests if start <= t <= end]

    def _accept(self):
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                upstream.connect(self.engine_socket)
            except OSError:
                client.close()
                continue
            threading.Thread(target=self._requests, args=(client, upstream),
                             daemon=True).start()
            threading.Thread(target=_pipe, args=(upstream, client),
                             daemon=True).start()

    def _record(self, method, target):
        with self._lock:
            self.requests.append((time.time(), kind(method, target)))

    def _requests(self, client, upstream):
        reader = client.makefile('rb')
        try:
            while True:
                line = reader.readline()
                if not line:
                    break
                head = [line]
                headers = {}
                while True:
                    h = reader.readline()
                    head.append(h)
                    if h in (b'\r\n', b'\n', b''):
                        break
                    name, _, value = h.decode('latin-1').partition(':')
                    headers[name.strip().lower()] = value.strip()
                parts = line.decode('latin-1').split()
                if len(parts) >= 2:
                    self._record(parts[0], parts[1])
                upstream.sendall(b''.join(head))
                if 'upgrade' in headers.get('connection', '').lower():
                    _copy_raw(reader, upstream)
                    break
                if 'chunked' in headers.get('transfer-encoding', ''):
                    _copy_chunked(reader, upstream)
                else:
                    _copy_n(reader, upstream,
                            int(headers.get('content-length') or 0))
        except OSError:
            pass
        finally:
            _close(upstream, client)


def _copy_n(reader, out, n):
    while n > 0:
        data = reader.read(min(n, 65536))
        if not data:
            raise OSError('client closed mid-body')
        out.sendall(data)
        n -= len(data)


def _copy_chunked(reader, out):
    while True:
        size_line = reader.readline()
        out.sendall(size_line)
        size = int(size_line.split(b';')[0].strip() or b'0', 16)
        if size == 0:
            while True:
                trailer = reader.readline()
                out.sendall(trailer)
                if trailer in (b'\r\n', b'\n', b''):
                    return
        _copy_n(reader, out, size + 2)


def _copy_raw(reader, out):
    while True:
        data = reader.read1(65536)
        if not data:
            return
        out.sendall(data)


def _pipe(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        _close(src, dst)


def _close(*socks):
    for s in socks:
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        s.close()
