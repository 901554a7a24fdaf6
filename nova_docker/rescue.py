"""Rescue: the rescue image runs as the server's workload, with the stopped
original's file system at RESCUE_PATH, on the server's own addresses.

Nova has stopped the original container. Its files are shown by mounting
its engine's overlay layers (the lower layers, and its own upper layer, so
that what is written lands in the original), or on btrfs its own
subvolume, at a directory of this driver, which the rescue container gets
as a bind mount. The rescue container joins the server's infra container
like the workload does (same ports, addresses and host name). Unrescue
removes the rescue container and the mount; the driver then starts the
original again, with the changes.
"""

import os

from nova import exception as nova_exception
from nova import conf as nova_conf
from oslo_log import log as logging
from oslo_utils import excutils

from nova_docker import etcfiles
from nova_docker import exception
from nova_docker import guest
from nova_docker import naming
from nova_docker import power
from nova_docker import privsep
from nova_docker import spec

CONF = nova_conf.CONF
LOG = logging.getLogger(__name__)

# Where the rescue container sees the original server's file system.
RESCUE_PATH = '/mnt/rescue'
RESCUE_DIR = 'rescue'
# Storage drivers whose layers mount_overlay can put together.
OVERLAY_DRIVERS = ('overlay2', 'overlay')


def host_dir(instance_uuid):
    """The directory the original's file system is mounted on."""
    return os.path.join(os.path.realpath(CONF.instances_path),
                        instance_uuid, RESCUE_DIR)


def release_files(instance_uuid):
    """Unmount the original's files and remove their directory; nothing
    there is fine."""
    target = host_dir(instance_uuid)
    if os.path.isdir(target):
        privsep.unmount(target)
        os.rmdir(target)
    try:
        os.rmdir(os.path.dirname(target))
    except OSError:
        pass  # gone already, or holds the config drive


class Rescues(object):

    def __init__(self, engine, images, host):
        self._engine = engine
        self._images = images
        self.host = host

    def rescue(self, context, instance, image_meta, rescue_password, facts):
        """Start image_meta's image as the rescue container of the
        (stopped) instance. Raises what fails, with nothing left."""
        image = self._images.prepare(context, image_meta)
        original = self._engine.inspect(instance.uuid)
        try:
            args = self._create_args(instance, image_meta, image.config,
                                     original, facts)
            self._engine.create_rescue(instance.uuid, image.engine_id, args)
            self._engine.start_rescue(instance.uuid)
        except Exception:
            with excutils.save_and_reraise_exception():
                self._undo(instance)
        self._set_password(instance, image.config, rescue_password)
        LOG.info('Rescue container of image %s started, the server\'s file '
                 'system at %s', image_meta.id, RESCUE_PATH,
                 instance=instance)

    def _create_args(self, instance, image_meta, image_config, original,
                     facts):
        container = spec.build(
            instance, self.host, image_meta.id, image_config,
            image_meta.properties.get('os_command_line'), facts, CONF.docker)
        args = dict(container.create_args)
        # Not the instance's labels: listings and events of instances
        # never count the rescue container.
        args['labels'] = {naming.RESCUE_FOR: instance.uuid,
                          naming.COMPUTE_HOST: self.host}
        files = self._show_files(instance, original)
        if files:
            args['volumes'] = {files: {'bind': RESCUE_PATH, 'mode': 'rw'}}
        network_mode = original['HostConfig'].get('NetworkMode') or ''
        if network_mode.startswith('container:'):
            args = etcfiles.mounted(
                spec.joined(args, naming.infra_name(instance.uuid)), instance)
        else:
            args['network_mode'] = network_mode or 'none'
        return args

    def _show_files(self, instance, original):
        """Mount the original's file system on this host; returns where,
        or None when its storage driver cannot be shown."""
        graph = original.get('GraphDriver') or {}
        data = graph.get('Data') or {}
        target = host_dir(instance.uuid)
        if graph.get('Name') in OVERLAY_DRIVERS and data.get('UpperDir'):
            os.makedirs(target, mode=0o700, exist_ok=True)
            try:
                privsep.mount_overlay(target, data['LowerDir'].split(':'),
                                      data['UpperDir'], data['WorkDir'])
            except privsep.TooManyLayers as e:
                # Nova puts a server whose rescue fails in ERROR.
                LOG.error('The rescue container runs without the server\'s '
                          'file system: %s', e, instance=instance)
                os.rmdir(target)
                return None
        elif graph.get('Name') == 'btrfs':
            os.makedirs(target, mode=0o700, exist_ok=True)
            privsep.bind_btrfs_container(
                target, self._engine.info()['DockerRootDir'],
                original['Id'])
        else:
            # Nova puts a server whose rescue fails in ERROR: rescue
            # without the files rather than that, and say so.
            LOG.error('The rescue container runs without the server\'s '
                      'file system: this driver cannot show a stopped '
                      'container\'s files on storage driver %s',
                      graph.get('Name'), instance=instance)
            return None
        return target

    def _set_password(self, instance, image_config, password):
        """Nova's rescue password (given, or made by Nova), set like an
        admin password; an image that cannot take one still rescues."""
        try:
            guest.chpasswd(_RescueContainer(self._engine), instance,
                           image_config, password)
        except (nova_exception.SetAdminPasswdNotSupported,
                exception.ContainerStateConflict) as e:
            # Not supported, or the rescue image's command already ended.
            LOG.warning('Rescue password not set: %s', e, instance=instance)

    def remove(self, instance):
        """Remove the rescue container and the mount of the original's
        files (before the original may start or be removed); nothing
        there is fine."""
        self._engine.remove_rescue(instance.uuid)
        release_files(instance.uuid)

    def _undo(self, instance):
        """Leave nothing of a failed rescue; never mask its error (Nova
        puts the server in ERROR; a hard reboot starts the original)."""
        try:
            self.remove(instance)
        except Exception:
            LOG.exception('Removing a failed rescue failed',
                          instance=instance)

    def power_state(self, instance):
        record = self._engine.inspect_rescue(instance.uuid)
        if record is None:
            return power.from_engine('exited', False)
        return power.from_engine(record['State']['Status'],
                                 record['State'].get('OOMKilled', False))


class _RescueContainer(object):
    """The engine, with exec aimed at the rescue container (for guest's
    password setting)."""

    def __init__(self, engine):
        self._engine = engine

    def exec(self, instance_uuid, command, **kwargs):
        return self._engine.exec(instance_uuid, command,
                                 name=naming.rescue_name(instance_uuid),
                                 **kwargs)
