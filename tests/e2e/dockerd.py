"""Restart the dockerd serving a socket exactly as it was started.

As a package upgrade does: the process serving the socket is found from
the socket's peer credentials, its command line, environment, working
directory and output files are read from /proc, it is stopped with SIGTERM
and started again the same way (its own session, so it outlives the test).
"""

import os
import signal
import socket
import struct
import subprocess
import time

import docker

SOCKET = '/var/run/docker.sock'


def serving_pid(path=SOCKET):
    creds = struct.Struct('3i')
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(path)
        pid, _uid, _gid = creds.unpack(sock.getsockopt(
            socket.SOL_SOCKET, socket.SO_PEERCRED, creds.size))
    return pid


def how_started(pid):
    """(argv, environment, cwd, stdout path, stderr path) of pid."""
    with open('/proc/%d/cmdline' % pid, 'rb') as f:
        argv = [a.decode() for a in f.read().split(b'\0') if a]
    with open('/proc/%d/environ' % pid, 'rb') as f:
        env = dict(item.decode().split('=', 1)
                   for item in f.read().split(b'\0') if b'=' in item)
    cwd = os.readlink('/proc/%d/cwd' % pid)
    outputs = [os.readlink('/proc/%d/fd/%d' % (pid, fd)) for fd in (1, 2)]
    return argv, env, cwd, outputs[0], outputs[1]


def _open_output(path):
    # A file it wrote to is appended to; a pipe or socket it had cannot be
    # opened again: the output then goes nowhere.
    if path.startswith('/') and os.path.isfile(path):
        return open(path, 'ab')
    return open(os.devnull, 'wb')


def answers(path=SOCKET, timeout=5):
    try:
        client = docker.APIClient(base_url='unix://' + path, timeout=timeout)
        with client:
            return client.ping()
    except Exception:
        return False


def _alive(pid):
    """Running (a zombie its parent has not reaped yet is not)."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except OSError:
        return False


def restart(path=SOCKET, timeout=120):
    """Stop the engine serving path and start it the same way; returns
    (the command line, time.monotonic() when it answers again)."""
    pid = serving_pid(path)
    argv, env, cwd, out, err = how_started(pid)
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(pid):
        if time.monotonic() > deadline:
            raise AssertionError('dockerd %d did not stop in %d s'
                                 % (pid, timeout))
        time.sleep(0.1)
    with _open_output(out) as stdout, _open_output(err) as stderr:
        subprocess.Popen(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                         stdout=stdout, stderr=stderr,
                         start_new_session=True)
    while not answers(path):
        if time.monotonic() > deadline:
            raise AssertionError('dockerd (%s) did not answer again in %d s'
                                 % (' '.join(argv), timeout))
        time.sleep(0.1)
    return argv, time.monotonic()
