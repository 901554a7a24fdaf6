"""What the person who ran ``up`` gets: an openrc they can source (also
when they ran ``up`` through sudo) and an ``openstack`` command on PATH.

The client lives in the all-in-one's venv. Putting the whole venv's bin/ on
PATH would shadow ``python3`` and ``pip`` in the user's shell: the openrc
adds ``<state>/bin`` instead, which holds only launchers into the venv.
"""

import os

# Commands a user of the cloud types; each is a launcher into the venv.
COMMANDS = ('openstack',)


def bin_dir(layout):
    return layout.path('bin')


def write_launchers(layout):
    os.makedirs(bin_dir(layout), exist_ok=True)
    for name in COMMANDS:
        path = os.path.join(bin_dir(layout), name)
        with open(path + '.part', 'w') as f:
            f.write('#!/bin/sh\nexec %s "$@"\n' % layout.bin(name))
        os.chmod(path + '.part', 0o755)
        os.rename(path + '.part', path)


def openrc(layout):
    path_line = 'export PATH=%s:"$PATH"\n' % bin_dir(layout)
    return layout.openrc() + path_line


def write_openrc(layout, owner=None):
    """Write ``<state>/openrc`` (mode 0600); ``owner`` (uid, gid) is the
    person who ran ``up`` through sudo, so that they can source it."""
    path = layout.path('openrc')
    fd = os.open(path + '.part', os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
                 0o600)
    with os.fdopen(fd, 'w') as f:
        f.write(openrc(layout))
    if owner:
        os.chown(path + '.part', *owner)
    os.rename(path + '.part', path)
    return path


def sudo_user():
    """(uid, gid) of the user who ran us through sudo, or None."""
    try:
        uid, gid = int(os.environ['SUDO_UID']), int(os.environ['SUDO_GID'])
    except (KeyError, ValueError):
        return None
    return (uid, gid) if uid != 0 else None
