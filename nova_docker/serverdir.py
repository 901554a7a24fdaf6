"""A server's directory on this host, ``<instances_path>/<uuid>``: its
config drive and, for a networked server, its /etc files, each a
subdirectory bound into the server's containers and removed with the
server's disks.

Each subdirectory is written whole beside its place and renamed into it,
so a container never sees half of it and a rebuild replaces the old one.
"""

import os
import shutil
import tempfile

from nova import conf as nova_conf

CONF = nova_conf.CONF


def root(instance):
    return os.path.join(CONF.instances_path, instance.uuid)


def path(instance, name):
    """Where the server's subdirectory name is."""
    return os.path.join(root(instance), name)


def replace(instance, name, fill):
    """Make the server's subdirectory name (mode 755) anew with what
    fill(directory) writes into it; returns its path."""
    final = path(instance, name)
    os.makedirs(root(instance), mode=0o700, exist_ok=True)
    staging = tempfile.mkdtemp(prefix='.%s-' % name, dir=root(instance))
    try:
        fill(staging)
        os.chmod(staging, 0o755)
        shutil.rmtree(final, ignore_errors=True)
        os.rename(staging, final)
    except Exception:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return final


def remove(instance, name):
    """Remove the server's subdirectory name, and the server's directory
    once empty; a missing one is fine."""
    shutil.rmtree(path(instance, name), ignore_errors=True)
    try:
        os.rmdir(root(instance))
    except OSError:
        pass  # gone already, or holds something else
