"""Processes that ``up`` starts: one pid file each, so that ``down`` stops
exactly those and nothing else on this shared host.

A pid file holds the pid and the process's start time: a pid the kernel has
since given to another process is never signalled.
"""

import os
import shutil
import signal
import subprocess
import time


def _start_time(pid):
    """When ``pid`` started, or None if it is gone (or a zombie)."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            # Fields 3 and 22, counted after the parenthesised name.
            fields = f.read().rsplit(')', 1)[1].split()
    except OSError:
        return None
    return None if fields[0] in ('Z', 'X') else fields[19]


def read_pid(pidfile):
    """The pid recorded in ``pidfile`` if that process still runs."""
    try:
        with open(pidfile) as f:
            pid, started = f.read().split()
        pid = int(pid)
    except (OSError, ValueError):
        return None
    return pid if _start_time(pid) == started else None


def start(layout, name, argv, env=None, cwd=None):
    """Start ``argv`` in its own session, output to the service's log.

    Returns the pid; a service that already runs is left alone.
    """
    pid = read_pid(layout.pidfile(name))
    if pid:
        return pid
    full_env = dict(os.environ)
    full_env.update(env or {})
    with open(layout.log(name), 'ab') as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=full_env,
                                cwd=cwd or layout.root,
                                start_new_session=True)
    with open(layout.pidfile(name), 'w') as f:
        f.write('%d %s\n' % (proc.pid, _start_time(proc.pid)))
    return proc.pid


def share(layout, name, host):
    """Record ``name`` as running in ``host``'s process: its pid file the
    same as host's (status and down then see it as they see any)."""
    pid = read_pid(layout.pidfile(name))
    if pid:
        return pid
    shutil.copyfile(layout.pidfile(host), layout.pidfile(name))
    return read_pid(layout.pidfile(name))


def stop(layout, names, timeout=15):
    """Stop the services ``up`` started (each one's whole process group),
    all at once: {name: pid} of those that were running."""
    pids = {name: read_pid(layout.pidfile(name)) for name in names}
    pids = {name: pid for name, pid in pids.items() if pid}
    for pid in pids.values():
        _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(
            _start_time(pid) for pid in pids.values()):
        for pid in pids.values():
            _reap(pid)
        time.sleep(0.1)
    for pid in pids.values():
        if _start_time(pid):
            _signal_group(pid, signal.SIGKILL)
    for name in names:
        try:
            os.unlink(layout.pidfile(name))
        except FileNotFoundError:
            pass
    return pids


def _signal_group(pid, sig):
    # The service leads its own session (start_new_session): its group is
    # its pid, and holds the workers it forked (gunicorn) too.
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass


def _reap(pid):
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def group_rss_kib(pid):
    """Resident memory of ``pid`` and every process of its group."""
    total = 0
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            if os.getpgid(int(entry)) != pid:
                continue
            with open('/proc/%s/status' % entry) as f:
                for line in f:
                    if line.startswith('VmRSS:'):
                        total += int(line.split()[1])
        except (OSError, ValueError):
            continue
    return total
