"""The first compute host's engine with ``up --engine podman``: Podman
serving the Docker API (``podman system service``) on a socket of its
own, with all of its state under the all-in-one's state directory (graph
root, run root, temporary files, locks, events log, network config), as
tools/podman-engine.sh starts one for the podman test suite. The host's
default Podman storage (/var/lib/containers) is never touched.

The shared dockerd still builds the busybox archive (``docker import``,
``docker save``); nova-compute loads it into Podman from Glance like any
image. Podman is daemonless: servers' containers outlive the service, so
``down`` stops them too (they stay in the storage, stopped, as on the
second host when its dockerd stops).
"""

import os
import shlex
import shutil
import signal
import subprocess

from nova_docker.aio.progress import wait_for
from nova_docker.aio import services
from nova_docker.aio import system

NAME = 'podman'  # the service: pid file, log, status row


def root(layout):
    return layout.path('podman')


def socket_path(layout):
    return os.path.join(root(layout), 'podman.sock')


def engine_url(layout):
    """``[docker] api_url`` of the first compute host."""
    if layout.engine == 'podman':
        return 'unix://' + socket_path(layout)
    return 'unix://' + system.DOCKER_SOCK


def missing_packages():
    # catatonit: Podman's init for containers made with init=True.
    want = {'podman': bool(shutil.which('podman')),
            'catatonit': os.path.exists('/usr/bin/catatonit')}
    return [name for name, present in want.items() if not present]


def conmon_path(layout):
    """The wrapper Podman starts as its container monitor (conmon)."""
    return os.path.join(root(layout), 'conmon')


def conmon_wrapper(real_conmon):
    """A script that starts conmon in the container's bundle directory
    (conmon's ``-b`` argument). Podman 4.3 reads a container's OOM kill
    from a file ``oom`` in that directory, while its conmon (2.1.6) writes
    that file into its own working directory: without this, an OOM-killed
    container reads as a plain exit (State.OOMKilled false)."""
    return '\n'.join((
        '#!/bin/sh',
        'bundle= prev=',
        'for arg in "$@"; do',
        '  case $prev in -b|--bundle) bundle=$arg ;; esac',
        '  case $arg in --bundle=*) bundle=${arg#--bundle=} ;; esac',
        '  prev=$arg',
        'done',
        'if [ -n "$bundle" ]; then cd "$bundle" || exit 1; fi',
        'exec %s "$@"' % shlex.quote(real_conmon),
        ''))


def containers_conf(layout):
    state = root(layout)
    return '\n'.join((
        '[engine]',
        # Podman reports OOM kills only so (conmon_wrapper).
        'conmon_path = ["%s"]' % conmon_path(layout),
        # No systemd here; no journald either.
        'cgroup_manager = "cgroupfs"',
        'events_logger = "file"',
        'events_logfile_path = "%s/events.log"' % state,
        'tmp_dir = "%s/tmp"' % state,
        'lock_type = "file"',
        # An exec session's conmon pair waits this long after the exec
        # ends before cleaning up (300 s by default); the driver reads an
        # exec's exit code at once.
        'exit_command_delay = 10',
        '[network]',
        'network_backend = "cni"',
        'network_config_dir = "%s/net"' % state,
        ''))


def _env(layout):
    # Only this file is read: nothing of the host's containers.conf.
    return {'CONTAINERS_CONF': os.path.join(root(layout),
                                            'containers.conf')}


def _podman(layout):
    state = root(layout)
    return ['podman', '--root', os.path.join(state, 'root'),
            '--runroot', os.path.join(state, 'run'),
            '--storage-driver', 'overlay']


def start(layout):
    """Start the service (once) and wait until it answers."""
    state = root(layout)
    for d in ('tmp', 'net'):
        os.makedirs(os.path.join(state, d), exist_ok=True)
    with open(conmon_path(layout), 'w') as f:
        f.write(conmon_wrapper(shutil.which('conmon') or '/usr/bin/conmon'))
    os.chmod(conmon_path(layout), 0o755)
    with open(_env(layout)['CONTAINERS_CONF'], 'w') as f:
        f.write(containers_conf(layout))
    # In the state directory: whatever Podman writes relative to its
    # working directory stays in it.
    pid = services.start(layout, NAME, _podman(layout) + [
        'system', 'service', '--time=0', 'unix://' + socket_path(layout)],
        env=_env(layout), cwd=state)
    wait_for(lambda: system.docker_answers(socket_path(layout)), 60, NAME,
             layout.log(NAME), alive=lambda: services.read_pid(
                 layout.pidfile(NAME)) == pid)


def stop(layout):
    """Stop the service and this engine's containers, leaving them in its
    storage: {service: pid} of what was running. Never fails: ``down``
    goes on (a failed container stop is in the log)."""
    stopped = services.stop(layout, [NAME])
    state = root(layout)
    if not os.path.isdir(os.path.join(state, 'root')):
        return stopped
    log = layout.log(NAME)
    with open(log, 'ab') as out:
        subprocess.call(_podman(layout) + ['stop', '--all', '--time', '10'],
                        stdout=out, stderr=out, timeout=120,
                        env=dict(os.environ, **_env(layout)))
    _end_exec_monitors(state)
    # The storage keeps its graph root bind-mounted on itself.
    with open('/proc/mounts') as f:
        points = [line.split()[1] for line in f
                  if line.split()[1].startswith(state + '/')]
    for point in sorted(points, reverse=True):
        subprocess.call(['umount', point])
    return stopped


def _end_exec_monitors(state):
    """An exec session whose container died meanwhile leaves its conmon
    behind (Podman 4.3): end this engine's, whose command line names its
    state directory."""
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open('/proc/%s/comm' % entry) as f:
                if f.read().strip() != 'conmon':
                    continue
            with open('/proc/%s/cmdline' % entry, 'rb') as f:
                argv = f.read().split(b'\0')
        except OSError:
            continue
        if any(arg.startswith(state.encode() + b'/') for arg in argv):
            try:
                os.kill(int(entry), signal.SIGTERM)
            except ProcessLookupError:
                pass


def health(layout):
    """The service's row for ``status``."""
    pid = services.read_pid(layout.pidfile(NAME))
    ok = bool(pid) and system.docker_answers(socket_path(layout))
    return {NAME: [pid, ok, engine_url(layout)]}
