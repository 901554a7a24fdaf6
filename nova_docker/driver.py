"""DockerDriver: Nova instances as Docker containers.

Each Nova call is a short orchestration of the rooms beside this one:
``spec`` (what to create), ``images`` (Glance into the engine), ``engine``
(every engine call), ``power`` (engine state -> power state) and ``host``
(resources for Nova and Placement).
"""

import functools
import time

from nova.compute import power_state
from nova.compute import task_states
from nova.compute import vm_states
from nova import conf as nova_conf
from nova import context as nova_context
from nova import exception as nova_exception
from nova.image import glance
from nova import objects
from nova.virt import driver
from nova.virt import hardware
import nova.virt.node
from oslo_log import log as logging
from oslo_utils import excutils
from oslo_utils import timeutils
from oslo_utils import units

from nova_docker import availability
from nova_docker import conf  # noqa: F401  (registers [docker])
from nova_docker import configdrive
from nova_docker import console
from nova_docker import diagnostics
from nova_docker import engine as engine_mod
from nova_docker import etcfiles
from nova_docker import events
from nova_docker import exception
from nova_docker import guest
from nova_docker import host as host_mod
from nova_docker import images
from nova_docker import infra
from nova_docker import leftovers
from nova_docker import migration as migrations
from nova_docker import netplan
from nova_docker import power
from nova_docker import recovery
from nova_docker import rescue
from nova_docker import spec
from nova_docker import vifplugged

CONF = nova_conf.CONF
LOG = logging.getLogger(__name__)

# Nova's console API shows at most this much (as the libvirt driver does).
MAX_CONSOLE_BYTES = 100 * units.Ki
# Lines of a dead workload's output quoted in its build fault.
FAULT_OUTPUT_BYTES = 120


class DockerDriver(driver.ComputeDriver):

    capabilities = dict(
        driver.ComputeDriver.capabilities,
        # Glance holds docker save archives as disk_format=raw.
        supports_image_type_raw=True,
        has_imagecache=True,
        # Rebuilt from the Glance image on another host's engine.
        supports_evacuate=True,
        # Ports are hot-plugged into the running infra container.
        supports_attach_interface=True,
    )

    def __init__(self, virtapi, read_only=False, engine=None,
                 image_store=None):
        """nova-compute passes virtapi alone: the engine is the one
        [docker] api_url names, images come from Glance. Tests and
        benchmarks pass an engine or an image store of their own."""
        super().__init__(virtapi)
        # Nova sets CONF.host before it makes the driver; the node name must
        # be known before init_host.
        self._host = CONF.host
        self._engine = engine or engine_mod.Engine.from_conf(CONF)
        self._images = image_store or images.ImageStore.from_conf(
            self._engine, glance.API(), self._host, CONF.docker)
        self._facts = spec.HostFacts(io_device=None, root_disk_quota=False)
        self._reported_unenforced = set()
        self._namespaces = infra.NetworkNamespaces(self._engine, self._host)
        self._migrations = migrations.Migrations(
            self._engine, self._images, self._namespaces,
            self._create_moved_workload, CONF.docker.image_staging_dir)
        self._events = None
        self._recovery = recovery.Recovery(self._engine, self._namespaces,
                                           self._host)
        self._status = availability.ServiceStatus(virtapi, self._host)
        self._watch = recovery.EngineWatch(
            self._engine, self._recovery, CONF.docker.engine_watch_seconds,
            self.emit_event, on_back=self._engine_back,
            on_silent=lambda: self._status.engine_gone(
                self._engine.engine_name, self._engine.url))
        self._leftovers_due = False
        self._answered_at_start = False
        self.starting = False
        self._rescues = rescue.Rescues(self._engine, self._images,
                                       self._host)
        self._consoles = console.SerialConsoles(
            self._engine, CONF.docker.serial_console_command,
            CONF.serial_console)

    # -- host -------------------------------------------------------------

    def init_host(self, host):
        self.starting = True
        self._host = host
        self._recovery.host = host
        self._status.host = host
        self._rescues.host = host
        self._namespaces.init_host(host, CONF.docker)
        self._events = events.EngineEvents(
            self._engine, host, self.emit_event,
            CONF.docker.stopped_event_delay, self._watch)
        self._answered_at_start = False
        try:
            self._engine_answers()
            self._answered_at_start = True
        except exception.EngineUnavailable as e:
            # A host reboot may start nova-compute before dockerd: start
            # anyway; the watch finishes this when the engine answers and
            # brings the servers back as after an engine restart.
            LOG.warning('%s nova-compute starts anyway: servers on this '
                        'host show power state NOSTATE until the engine '
                        'answers, then they are brought back.',
                        e.format_message())
        self._events.start()
        self._watch.start()

    def _engine_answers(self):
        """What needs the engine at start-up, again after each return of
        the engine (an upgrade may change what it offers)."""
        self._engine.connect()
        info = self._engine.info()
        self._facts = host_mod.facts(info)
        self._namespaces.ensure_image()
        if self._leftovers_due:
            self._leftovers_due = False
            leftovers.reconcile_containers(
                nova_context.get_admin_context(), self._engine, self._host)
        host_mod.log_engine(self._engine, info, self._facts)

    def _engine_back(self):
        self._engine_answers()
        self._status.engine_back()

    def cleanup_host(self, host):
        if self._events is not None:
            self._events.stop()
        self._watch.stop()
        self._consoles.close_all()

    def process_instances_at_startup(self, context, instances):
        # Nova calls this once evacuated instances are gone, with the
        # instances it places here: what else this host owns is leftover.
        self._leftovers_due = leftovers.reconcile(
            context, self._engine, self._images, self._host, instances)
        if self._answered_at_start:
            # Disabled when this service last saw its engine go silent?
            self._status.engine_back()
        return instances

    def get_available_nodes(self, refresh=False):
        return [self._host]

    def get_available_resource(self, nodename):
        # Nova asks right after init_host, before it takes requests: the
        # start-up is over.
        self.starting = False
        info = self._engine.known_info()
        resources = host_mod.resources(info, nodename, CONF.instances_path)
        resources['uuid'] = self._node_uuid()
        return resources

    def get_nodenames_by_uuid(self, refresh=False):
        return {self._node_uuid(): self._host}

    def _node_uuid(self):
        # Nova's stable node identity, kept in a file beside nova.conf or
        # under state_path, so that a renamed host is noticed.
        return nova.virt.node.get_local_node_uuid()

    def update_provider_tree(self, provider_tree, nodename, allocations=None):
        info = self._engine.known_info()
        ratios = self._get_allocation_ratios(
            provider_tree.data(nodename).inventory)
        provider_tree.update_inventory(
            nodename,
            host_mod.inventory(info, ratios, CONF))

    def get_host_uptime(self):
        return host_mod.uptime()

    def get_host_ip_addr(self):
        return CONF.my_ip

    # -- listing and state ------------------------------------------------

    @exception.answered_while_starting(list)
    def list_instances(self):
        rows = self._engine.list_host(self._host)
        return [row.name for row in rows.values()]

    @exception.answered_while_starting(list)
    def list_instance_uuids(self):
        return list(self._engine.list_host(self._host))

    def get_num_instances(self):
        # Nova's power-state sync calls this first, then get_info for each
        # instance: this one listing serves the whole cycle. While the
        # engine is away the sync skips its cycle (Nova logs why) and
        # servers keep their last known state.
        try:
            return len(self._engine.list_host(self._host))
        except exception.EngineUnavailable as e:
            raise nova_exception.VirtDriverNotReady() from e

    def instance_exists(self, instance):
        try:
            self._engine.inspect(instance.uuid)
            return True
        except nova_exception.InstanceNotFound:
            return False

    @exception.answered_while_starting(
        lambda: hardware.InstanceInfo(state=power_state.NOSTATE))
    def get_info(self, instance, use_cache=True):
        if instance.vm_state == vm_states.RESCUED:
            return hardware.InstanceInfo(
                state=self._rescues.power_state(instance))
        row = None
        if use_cache:
            row = self._engine.cached_list_host(
                self._host, CONF.docker.state_cache_seconds).get(instance.uuid)
        if row is not None:
            state = power.for_instance(row.status, None, instance)
        else:
            engine_state = self._engine.inspect(instance.uuid)['State']
            state = power.for_instance(engine_state['Status'],
                                       engine_state.get('OOMKilled', False),
                                       instance)
        if (state in (power_state.SHUTDOWN, power_state.CRASHED) and
                (self._watch.restore_due() or
                 self._recovery.awaits_restore(instance.uuid))):
            state = power_state.NOSTATE
        return hardware.InstanceInfo(state=state)

    # -- lifecycle --------------------------------------------------------

    @exception.abort_build_if_engine_away
    def spawn(self, context, instance, image_meta, injected_files,
              admin_password, allocations, network_info=None,
              block_device_info=None, power_on=True, accel_info=None):
        guest.checked_paths(instance, injected_files)
        image = self._images.prepare(context, image_meta)
        try:
            # NICs first, in a namespace the workload joins; the namespace
            # is made while Nova allocates the ports, the workload while
            # Neutron wires them.
            with self._namespaces.creating(
                    instance, network_info, CONF.docker,
                    vifplugged.waiter(self.virtapi, instance,
                                      power_on)) as infra_name:
                guest_args = configdrive.write(instance, injected_files,
                                               admin_password, network_info)
                try:
                    self._create_workload(instance, image.engine_id,
                                          image.config, image_meta, infra_name,
                                          guest_args)
                except exception.ImageNotLoaded:
                    # Image-cache ageing (of a host sharing this engine)
                    # took the image since prepare: bring it back once.
                    image = self._images.prepare(context, image_meta)
                    self._create_workload(instance, image.engine_id,
                                          image.config, image_meta, infra_name,
                                          guest_args)
                guest.inject_files(self._engine, instance, injected_files)
                guest.add_key(self._engine, instance, image.config)
                user_data = guest.stage_user_data(self._engine, instance,
                                                  CONF.docker.run_user_data)
                if admin_password and infra_name is not None and \
                        guest.write_password(self._engine, instance,
                                             image.config, admin_password):
                    # Written while Neutron wires the ports, not after the
                    # start (a port-less server waits for nothing, and the
                    # engine's exec is faster than its archive calls).
                    admin_password = None
            if power_on:
                self._start_new(instance)
                self._check_settled(instance)
                self._first_start(instance, image.config, admin_password,
                                  user_data)
        except Exception:
            with excutils.save_and_reraise_exception():
                self._undo_spawn(instance, image, network_info)
        LOG.info('Container created%s', ' and started' if power_on else '',
                 instance=instance)

    def _create_workload(self, instance, engine_image_id, image_config,
                         image_meta, infra_name, guest_args=None):
        """Create (not start) the workload with the instance's flavor and
        guest_args (the config drive's mount), joined to the infra
        container's namespace if it has one."""
        container = spec.build(
            instance, self._host, image_meta.id, image_config,
            image_meta.properties.get('os_command_line'), self._facts,
            CONF.docker)
        self._report_unenforced(instance, container.unenforced)
        create_args = dict(container.create_args, **(guest_args or {}))
        if infra_name is not None:
            create_args = etcfiles.mounted(
                spec.joined(create_args, infra_name), instance)
        self._engine.create(instance.uuid, engine_image_id, create_args)

    def _create_moved_workload(self, instance, engine_image_id, image_config,
                               image_meta, infra_name, network_info):
        """The workload of a resized or migrated server: its config drive
        is written again on this host."""
        guest_args = configdrive.write(instance, None, None, network_info)
        self._create_workload(instance, engine_image_id, image_config,
                              image_meta, infra_name, guest_args)

    def _start_new(self, instance):
        """Start a just-created workload. The engine created it, so the
        engine works: a start it fails is this workload's own doing (a
        USER the image lacks, ...), which another host would fail alike."""
        try:
            self._engine.start(instance.uuid)
        except exception.EngineError as e:
            raise exception.WorkloadStartFailed(
                instance_uuid=instance.uuid, engine=self._engine.engine_name,
                reason=e.kwargs.get('reason') or e) from e

    def _check_settled(self, instance):
        """Fail the build of a workload that exits straight away."""
        if CONF.docker.spawn_settle_seconds:
            time.sleep(CONF.docker.spawn_settle_seconds)
        state = self._engine.inspect(instance.uuid)['State']
        if state['Status'] in ('running', 'restarting'):
            return
        output = self._engine.logs(instance.uuid, FAULT_OUTPUT_BYTES)
        raise exception.WorkloadExited(
            instance_uuid=instance.uuid, exit_code=state.get('ExitCode'),
            output=output.decode('utf-8', 'replace').strip() or '(none)')

    def _first_start(self, instance, image_config, admin_password,
                     user_data):
        if user_data:
            guest.run_user_data(self._engine, instance)
        if admin_password:
            # Nova makes a password for every boot; an image that cannot
            # take one still boots (the password is on its config drive,
            # if it has one).
            try:
                guest.set_password(self._engine, instance, image_config,
                                   admin_password)
            except (nova_exception.SetAdminPasswdNotSupported,
                    exception.ContainerStateConflict) as e:
                LOG.warning('Admin password not set: %s', e,
                            instance=instance)

    def _undo_spawn(self, instance, image, network_info):
        """Leave nothing behind from a failed spawn; never mask its error."""
        try:
            self._engine.remove(instance.uuid)
            self._namespaces.remove(instance, network_info or [])
            etcfiles.remove(instance)
            configdrive.remove(instance)
        except Exception:
            LOG.exception('Removing the containers of a failed spawn failed',
                          instance=instance)
        try:
            self._images.forget(image)
        except Exception:
            LOG.exception('Removing the image of a failed spawn failed',
                          instance=instance)

    def _report_unenforced(self, instance, limits):
        for limit in set(limits) - self._reported_unenforced:
            self._reported_unenforced.add(limit)
            LOG.warning('This host cannot enforce %s on containers; flavors '
                        'asking for it run without it (reported once).',
                        limit, instance=instance)

    def destroy(self, context, instance, network_info, block_device_info=None,
                destroy_disks=True, destroy_secrets=True):
        self._consoles.close(instance)
        try:
            reverting_here = self._migrations.reverting_here(instance)
            self._rescues.remove(instance)
            self._engine.remove(instance.uuid)
        except exception.EngineUnavailable as e:
            # Nova forgets the server now; its containers and ports go as
            # soon as the engine answers again.
            LOG.warning('%s Removing the server once it answers.', e,
                        instance=instance)
            self._events.when_engine_back(functools.partial(
                self.destroy, context, instance, network_info))
            return
        if reverting_here:
            # Revert of a resize on this host: the original container
            # comes back into the same namespace.
            return
        self.cleanup(context, instance, network_info, block_device_info,
                     destroy_disks, destroy_secrets=destroy_secrets)
        self._migrations.forget_images(instance)

    def cleanup(self, context, instance, network_info, block_device_info=None,
                destroy_disks=True, migrate_data=None, destroy_vifs=True,
                destroy_secrets=True):
        # destroy removed the workload; its namespace goes with the infra.
        if destroy_disks:
            etcfiles.remove(instance)
            configdrive.remove(instance)
        if instance.host and instance.host != self._host:
            # Evacuated while this host was down (Nova's clean-up at
            # start-up): the network info is the new host's.
            self._namespaces.remove_left_behind(instance)
            return
        self._namespaces.remove(instance, network_info, unplug=destroy_vifs)

    # Nova asks whether a moved server's host shares instances_path with
    # this one before it removes the server's files here.
    def check_instance_shared_storage_local(self, context, instance):
        return configdrive.shared_probe(instance)

    def check_instance_shared_storage_remote(self, context, data):
        return configdrive.sees_probe(data)

    def check_instance_shared_storage_cleanup(self, context, data):
        configdrive.remove_probe(data)

    def reboot(self, context, instance, network_info, reboot_type,
               block_device_info=None, bad_volumes_callback=None,
               accel_info=None, share_info=None):
        if reboot_type == 'SOFT':
            # The namespace may be gone (infra removed, engine restarted).
            self._recovery.repair_namespace(instance, network_info)
            self._engine.restart(instance.uuid, CONF.shutdown_timeout)
            return
        # Hard: whatever state the container is in (the engine kills a
        # paused one too), it ends up running.
        self._engine.kill(instance.uuid)
        self._recovery.repair_namespace(instance, network_info)
        self._engine.start(instance.uuid)

    def power_off(self, instance, timeout=0, retry_interval=0):
        self._consoles.close(instance)
        if timeout:
            self._engine.stop(instance.uuid, timeout)
        else:
            self._engine.kill(instance.uuid)

    def power_on(self, context, instance, network_info,
                 block_device_info=None, accel_info=None, share_info=None):
        self._recovery.repair_namespace(instance, network_info)
        self._engine.start(instance.uuid)

    def pause(self, instance):
        self._engine.pause(instance.uuid)

    def unpause(self, instance):
        self._engine.unpause(instance.uuid)

    def suspend(self, context, instance):
        # A rollback puts the server back as it was (ACTIVE, not ERROR);
        # the reason is the action's event message.
        raise nova_exception.InstanceFaultRollback(
            inner_exception=nova_exception.InstanceSuspendFailure(
                reason='suspend is not supported on Docker hosts: it needs '
                       'checkpoint/restore (CRIU), which this host cannot '
                       'run. Use pause or stop instead.'))

    def rescue(self, context, instance, network_info, image_meta,
               rescue_password, block_device_info, share_info):
        # Nova has stopped the workload; the namespace may need repair.
        self._recovery.repair_namespace(instance, network_info)
        self._rescues.rescue(context, instance, image_meta, rescue_password,
                             self._facts)

    def unrescue(self, context, instance):
        self._rescues.remove(instance)
        self.power_on(context, instance, instance.get_network_info())

    def set_admin_password(self, instance, new_pass):
        guest.set_password(self._engine, instance,
                           self._engine.inspect(instance.uuid)['Config'],
                           new_pass)

    def resume_state_on_host_boot(self, context, instance, network_info,
                                  share_info, block_device_info=None):
        if self._state(instance) != power_state.RUNNING:
            self._recovery.repair_namespace(instance, network_info)
            self._engine.start(instance.uuid)

    def snapshot(self, context, instance, image_id, update_task_state):
        with recovery.reported_if_missing(context, instance):
            update_task_state(task_state=task_states.IMAGE_PENDING_UPLOAD)
            with self._images.committed(instance.uuid, image_id) as committed:
                update_task_state(
                    task_state=task_states.IMAGE_UPLOADING,
                    expected_state=task_states.IMAGE_PENDING_UPLOAD)
                self._images.upload(context, image_id, committed)

    def manage_image_cache(self, context, all_instances):
        if not CONF.image_cache.remove_unused_base_images:
            return
        self._images.remove_unused(
            {instance.image_ref for instance in all_instances},
            CONF.image_cache.remove_unused_original_minimum_age_seconds)

    def cache_image(self, context, image_id):
        image_meta = objects.ImageMeta.from_image_ref(
            context, self._images.image_api, image_id)
        return self._images.prepare(context, image_meta).loaded_now

    # -- resize and cold migration (nova_docker/migration.py) ------------

    def migrate_disk_and_power_off(self, context, instance, dest, flavor,
                                   network_info, block_device_info=None,
                                   timeout=0, retry_interval=0):
        self._consoles.close(instance)
        return self._migrations.migrate_disk_and_power_off(
            context, instance, network_info, timeout)

    def finish_migration(self, context, migration, instance, disk_info,
                         network_info, image_meta, resize_instance,
                         allocations, block_device_info=None, power_on=True,
                         share_info=None):
        self._migrations.finish(
            context, instance, disk_info, network_info, image_meta, power_on,
            vifplugged.waiter(self.virtapi, instance, power_on))

    def confirm_migration(self, context, migration, instance, network_info):
        self._migrations.confirm(instance, migration)

    def finish_revert_migration(self, context, instance, network_info,
                                migration, block_device_info=None,
                                power_on=True, share_info=None):
        self._migrations.revert(instance, network_info, power_on)

    def check_can_live_migrate_destination(self, context, instance,
                                           src_compute_info, dst_compute_info,
                                           block_migration=False,
                                           disk_over_commit=False):
        migrations.refuse_live_migration(instance)

    def get_console_output(self, context, instance):
        return self._engine.logs(instance.uuid, MAX_CONSOLE_BYTES)

    def get_serial_console(self, context, instance):
        return self._consoles.console(instance)

    def get_instance_diagnostics(self, instance):
        record = self._engine.inspect(instance.uuid)
        nics = [(vif['address'],
                 host_mod.nic_counters(netplan.host_dev(vif['id'])))
                for vif in instance.get_network_info()]
        return diagnostics.instance_diagnostics(
            power.from_engine(record['State']['Status']), record['State'],
            self._engine.stats(instance.uuid),
            timeutils.utcnow(with_timezone=True), nics,
            bool(configdrive.mount_of(record)))

    def get_diagnostics(self, instance):
        return diagnostics.legacy(self.get_instance_diagnostics(instance))

    def _state(self, instance):
        return self.get_info(instance, use_cache=False).state

    # -- networking -------------------------------------------------------

    def plug_vifs(self, instance, network_info):
        # nova-compute calls this from init_host for each instance: after a
        # restart of the service or of the host, NICs are put back.
        self._recovery.plug_vifs(instance, network_info)

    def unplug_vifs(self, instance, network_info):
        self._namespaces.unplug(instance, network_info)

    def attach_interface(self, context, instance, image_meta, vif):
        self._namespaces.attach(instance, vif)

    def detach_interface(self, context, instance, vif):
        self._namespaces.detach(instance, vif)
