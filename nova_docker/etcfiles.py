"""A networked server's /etc/hosts and /etc/resolv.conf, written by the
driver.

The engine writes these files itself only at a container's create, from
--dns and --add-host, and refuses both on a container joining another's
network namespace. The infra container is created while Nova is still
allocating the server's ports (nothing of their addresses and DNS
servers known yet), so the driver writes the files once the ports are
known, in the server's directory beside the config drive
(nova_docker.serverdir: written whole, each start binds the current
files), and the containers joining the namespace (workload, rescue) bind
them read-only.
"""

import os

from nova_docker import serverdir
from nova_docker import spec

FILES_DIR = 'etc'
HOSTS = 'hosts'
RESOLV_CONF = 'resolv.conf'
# The engine's own lines of a container's /etc/hosts.
LOCAL_HOSTS = ('127.0.0.1\tlocalhost\n'
               '::1\tlocalhost ip6-localhost ip6-loopback\n'
               'fe00::0\tip6-localnet\n'
               'ff00::0\tip6-mcastprefix\n'
               'ff02::1\tip6-allnodes\n'
               'ff02::2\tip6-allrouters\n')


def host_dir(instance):
    return serverdir.path(instance, FILES_DIR)


def write(instance, plan):
    """Write the files of the server's interface plan: its hostname at its
    first address, the subnets' DNS servers (none: the engine's default,
    the infra container's resolv.conf, stays)."""
    hostname, _domain = spec.names(instance)
    addresses = [a for i in plan.interfaces for a, _ in i.addresses]
    files = {HOSTS: LOCAL_HOSTS + ''.join(
        '%s\t%s\n' % (address, hostname) for address in addresses[:1])}
    if plan.dns:
        files[RESOLV_CONF] = ''.join('nameserver %s\n' % server
                                     for server in plan.dns)

    def fill(directory):
        for name, text in files.items():
            with open(os.path.join(directory, name), 'w') as f:
                f.write(text)
            os.chmod(os.path.join(directory, name), 0o644)

    serverdir.replace(instance, FILES_DIR, fill)


def mounted(create_args, instance):
    """Create arguments of a container joining the server's namespace,
    with the server's files bound read-only. As mounts, not volumes: the
    SDK also declares a volume's target in the container's config, which
    a commit copies into the image (a snapshot would then declare VOLUME
    /etc/hosts, and a container made from it without a port fails: "cannot
    mount volume over existing file")."""
    mounts = list(create_args.get('mounts') or [])
    for name in (HOSTS, RESOLV_CONF):
        path = os.path.join(host_dir(instance), name)
        if os.path.exists(path):
            mounts.append({'Type': 'bind', 'Source': path,
                           'Target': '/etc/' + name, 'ReadOnly': True})
    return dict(create_args, mounts=mounts)


def remove(instance):
    """Remove the server's files (missing ones are fine)."""
    serverdir.remove(instance, FILES_DIR)
