"""Resize and cold migration: Nova's move flow for containers.

The source stops the container, commits its files to an engine image
(``nova-migration/<uuid>:<migration id>``) and keeps the container aside
as ``nova-<uuid>-resized-from`` until Nova confirms or reverts. The target
creates a new container from that image with the new flavor:

- same host (``allow_resize_to_same_host``): the new container joins the
  same network namespace, so ports never move;
- another host: the files travel through Glance (``transfer``); the source
  unplugs its ports and stops its infra container (kept for a revert), the
  target plugs them into a new one.

Confirm removes the original and its image; revert removes the new
container (Nova's destroy on the target) and renames the original back.
Live migration needs checkpoint/restore of processes (CRIU), which this
host cannot do: it is refused before anything moves.
"""

import json

from nova.compute import task_states
from nova import conf as nova_conf
from nova import exception as nova_exception
from nova import objects
from oslo_log import log as logging
from oslo_utils import excutils

from nova_docker import configdrive
from nova_docker import etcfiles
from nova_docker import naming
from nova_docker import transfer

CONF = nova_conf.CONF
LOG = logging.getLogger(__name__)

LIVE_MIGRATION_REFUSED = (
    'containers cannot be live-migrated: that needs checkpoint/restore '
    '(CRIU), which Docker hosts here do not offer; use a cold migration '
    '(openstack server migrate) instead')


class Migrations(object):

    def __init__(self, engine, images, namespaces, create_workload,
                 staging_dir=None):
        """create_workload(instance, engine_image_id, image_config,
        image_meta, infra_name, network_info) creates (not starts) the
        workload as spawn does."""
        self._engine = engine
        self._images = images
        self._namespaces = namespaces
        self._create_workload = create_workload
        self._staging_dir = staging_dir

    # -- source -----------------------------------------------------------

    def migrate_disk_and_power_off(self, context, instance, network_info,
                                   timeout):
        migration = objects.Migration.get_by_id(
            context, instance.migration_context.migration_id)
        same_host = migration.source_compute == migration.dest_compute
        was_running = self._engine.inspect(instance.uuid)['State'].get(
            'Running')
        if timeout:
            self._engine.stop(instance.uuid, timeout)
        else:
            self._engine.kill(instance.uuid)
        ref = naming.migration_reference(instance.uuid, migration.id)
        moved = {'ref': ref, 'same_host': same_host}
        try:
            # The driver's labels stay out of what goes to Glance.
            self._engine.commit(instance.uuid, ref, naming.DRIVER_LABELS)
            if not same_host:
                moved.update(self._send(context, instance, ref))
            self._engine.rename(naming.container_name(instance.uuid),
                                naming.resized_from_name(instance.uuid))
        except Exception as e:
            # Back as it was; Nova then rolls the server back to its state
            # (ACTIVE or SHUTOFF) with the reason, not to ERROR.
            self._engine.untag_image(ref)
            if was_running:
                self._engine.start(instance.uuid)
            raise nova_exception.InstanceFaultRollback(inner_exception=e)
        if not same_host:
            # The ports are bound to the target next; the infra container
            # stays (stopped) for a revert.
            self._namespaces.park(instance, network_info)
        return json.dumps(moved)

    def _send(self, context, instance, ref):
        base = self._glance_base(context, instance)
        moved = transfer.send(self._engine, self._images.image_api, context,
                              instance, ref, base, self._staging_dir)
        moved['base_left_out'] = base is not None
        return moved

    def _glance_base(self, context, instance):
        """The engine tag of the server's Glance image, when both Glance
        and the engine still have it (its layers then need not travel)."""
        try:
            meta = self._images.image_api.get(context, instance.image_ref)
        except (nova_exception.ImageNotFound,
                nova_exception.ImageNotAuthorized):
            return None
        ref = naming.image_reference(instance.image_ref, meta.get('checksum'))
        return ref if self._engine.image_id(ref) else None

    def confirm(self, instance, migration):
        """Remove the original container (and, if the server left this
        host, its stopped infra container) and images nothing uses."""
        self._engine.remove_named(naming.resized_from_name(instance.uuid))
        if migration.source_compute != migration.dest_compute:
            self._namespaces.remove(instance, None, unplug=False)
            # The target wrote its own (instances_path is not shared
            # between Docker hosts: nothing here needs it).
            configdrive.remove(instance)
        self.forget_images(instance)

    # -- target -----------------------------------------------------------

    def finish(self, context, instance, disk_info, network_info, image_meta,
               power_on, vif_events):
        moved = json.loads(disk_info)
        try:
            if not moved['same_host']:
                if moved.get('base_left_out'):
                    self._images.prepare(context, image_meta)
                transfer.receive(self._engine, self._images.image_api,
                                 context, instance, moved, self._staging_dir)
            infra_name = self._infra(instance, network_info, moved, vif_events)
            engine_id, config = self._engine.image(moved['ref'])
            self._create_workload(instance, engine_id, config, image_meta,
                                  infra_name, network_info)
            if power_on:
                self._engine.start(instance.uuid)
        except Exception:
            with excutils.save_and_reraise_exception():
                self._engine.remove(instance.uuid)
                if not moved['same_host']:
                    self._namespaces.remove(instance, network_info)
                    etcfiles.remove(instance)
                    configdrive.remove(instance)
                    self._engine.untag_image(moved['ref'])
                    transfer.discard(self._images.image_api, context, moved)

    def _infra(self, instance, network_info, moved, vif_events):
        if moved['same_host']:
            name = naming.infra_name(instance.uuid)
            return name if self._engine.exists(name) else None
        return self._namespaces.create(instance, network_info, CONF.docker,
                                       vif_events)

    # -- revert -----------------------------------------------------------

    def reverting_here(self, instance):
        """Whether Nova's destroy is the revert of a resize on this same
        host: only the new container goes then, the namespace stays."""
        return (instance.task_state == task_states.RESIZE_REVERTING and
                self._engine.exists(naming.resized_from_name(instance.uuid)))

    def revert(self, instance, network_info, power_on):
        """Put the original container back and start it as it was."""
        self._engine.remove(instance.uuid)
        self._engine.rename(naming.resized_from_name(instance.uuid),
                            naming.container_name(instance.uuid))
        self._namespaces.ensure(instance, network_info)
        if power_on:
            self._engine.start(instance.uuid)
        self.forget_images(instance)

    def forget_images(self, instance):
        """Untag the server's committed images that no container uses (the
        engine refuses the others)."""
        repository = naming.MIGRATION_REPOSITORY + instance.uuid
        for ref in self._engine.tagged_images(repository):
            self._engine.untag_image(ref)


def refuse_live_migration(instance):
    """Refuse in the destination check. Nova's conductor tries the next
    host after a MigrationPreCheckError (and ends with "no valid host",
    losing the reason); HypervisorUnavailable ends the attempt with this
    message (the API's 400 before microversion 2.34, the action's fault
    after) and the server stays as it was."""
    LOG.info('Live migration refused: %s', LIVE_MIGRATION_REFUSED,
             instance=instance)
    raise nova_exception.HypervisorUnavailable(message=LIVE_MIGRATION_REFUSED)
