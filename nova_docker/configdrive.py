"""The config drive: Nova's own content, as a read-only directory.

A container has no block devices to attach an ISO to, so the tree Nova
would put on the config drive ISO (``openstack/latest/meta_data.json``,
``network_data.json``, ``user_data``, ``vendor_data*.json``, ``ec2/...``) is
written by Nova's own ``ConfigDriveBuilder`` into a directory under
``instances_path`` and bind-mounted read-only at ``MOUNT_PATH``, where
cloud-init's ConfigDrive datasource looks for a seed before it looks for a
device. The directory lives as long as the server on this host
(nova_docker.serverdir): written at each spawn (boot, rebuild, unshelve,
evacuate), kept across stop/start and reboots, removed with the server's
disks.
"""

import os
import tempfile

from nova.api.metadata import base as instance_metadata
from nova import conf as nova_conf
from nova.virt import configdrive as nova_configdrive
from oslo_log import log as logging
from oslo_utils import fileutils

from nova_docker import serverdir

CONF = nova_conf.CONF
LOG = logging.getLogger(__name__)

# cloud-init's ConfigDrive datasource reads <seed_dir>/config_drive first.
MOUNT_PATH = '/var/lib/cloud/seed/config_drive'
DRIVE_DIR = 'config-drive'


def host_dir(instance):
    """The directory holding the instance's config drive on this host."""
    return serverdir.path(instance, DRIVE_DIR)


def write(instance, injected_files, admin_password, network_info):
    """Write the config drive if the instance needs one (--config-drive,
    the image's img_config_drive=mandatory, or force_config_drive); return
    the container create arguments that mount it (empty if none)."""
    if not nova_configdrive.required_by(instance):
        return {}
    extra_md = {'admin_pass': admin_password} if admin_password else {}
    metadata = instance_metadata.InstanceMetadata(
        instance, content=injected_files, extra_md=extra_md,
        network_info=network_info)
    builder = nova_configdrive.ConfigDriveBuilder(instance_md=metadata)
    # The tree make_drive hands to mkisofs; there is no ISO to make.
    final = serverdir.replace(instance, DRIVE_DIR, builder._write_md_files)
    LOG.info('Config drive written to %s, mounted at %s', final, MOUNT_PATH,
             instance=instance)
    return mount_args(final)


def mount_args(path):
    """Container create arguments: path read-only at MOUNT_PATH. A mount,
    not a volume, which would also be declared in the container's config
    and so in a snapshot's image (see etcfiles.mounted)."""
    return {'mounts': [{'Type': 'bind', 'Source': path,
                        'Target': MOUNT_PATH, 'ReadOnly': True}]}


def mount_of(container_record):
    """The host directory mounted as the config drive in the container
    (from the engine's inspect record), or None."""
    for mount in container_record.get('Mounts') or []:
        if mount.get('Destination') == MOUNT_PATH:
            return mount.get('Source')
    return None


def remove(instance):
    """Remove the instance's config drive (a missing one is fine)."""
    serverdir.remove(instance, DRIVE_DIR)


def shared_probe(instance):
    """A file made in the server's directory under instances_path, for
    Nova to ask the server's other host whether it sees it: hosts that
    share instances_path (NFS) must not remove the config drive the other
    host mounts. None when this host keeps nothing of the server there
    (Nova then removes nothing either)."""
    directory = serverdir.root(instance)
    if not os.path.isdir(directory):
        return None
    fd, path = tempfile.mkstemp(prefix='.shared-check-', dir=directory)
    os.close(fd)
    return {'filename': path,
            'relative': os.path.relpath(path, CONF.instances_path)}


def sees_probe(data):
    """Whether the probe is in this host's own instances_path: hosts on
    one machine with instances_paths of their own see each other's files
    by their full names, yet share nothing."""
    return os.path.exists(os.path.join(CONF.instances_path,
                                       data['relative']))


def remove_probe(data):
    fileutils.delete_if_exists(data['filename'])
