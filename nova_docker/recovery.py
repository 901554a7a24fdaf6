"""Bringing servers back after the engine or nova-compute restarted.

Nova's database says what should run; the engine only runs what it was
last told. When ``dockerd`` restarts without ``live-restore`` it stops
every container, and it starts none again (the driver creates containers
with no restart policy, so that a crash or an OOM kill stays visible to
Nova as SHUTOFF, and a workload never starts before its ports are
plugged). Every infra process dies with it, and with it each server's
network namespace and the container ends of its ports.

``EngineWatch`` notices a restart from a native thread: every
``[docker] engine_watch_seconds`` it asks the engine who it is (see
``Engine.identity``), and the event stream tells it at once when it ends;
a new engine process, or an engine that answers again after a silence
(also the first answer of an engine that was down when nova-compute
started), triggers ``Recovery.restore_host``. That brings
every server Nova has ACTIVE (and not busy with a task) back to running,
every PAUSED one back to paused and every RESCUED one's rescue container
back to running: infra container started (or made
again if it is gone), ports plugged into the new namespace by the
network room, workload started. SHUTOFF servers are left off. With
``live-restore`` the containers and namespaces survive and the same pass
finds nothing to do but check each port's host side. Stops the engine
causes meanwhile (a crashed engine stops every container as it starts
again) are held by the watch and reported only if the container still
does not run once the servers are back: Nova never stops a server over
them.

``plug_vifs`` (called by nova-compute's init_host for each instance, after
a service restart or a host reboot) repairs the namespace the same way;
one broken instance never stops the service: what cannot be repaired now
(engine slow, Open vSwitch not up yet) is logged and retried by the
watch until it works or ``REPAIR_GIVE_UP_SECONDS`` have passed, when a
fault is recorded on the instance.
"""

import contextlib
import threading
import time

from nova.compute import power_state
from nova.compute import utils as compute_utils
from nova.compute import vm_states
from nova import context as nova_context
from nova import exception as nova_exception
from nova import objects
from oslo_concurrency import lockutils
from oslo_log import log as logging

from nova_docker import exception
from nova_docker import infra
from nova_docker import naming

LOG = logging.getLogger(__name__)

# How long one identity probe may wait for the engine.
PROBE_TIMEOUT = 5.0
# Servers repaired at once after a restart: the engine and privsep serve
# several, and 20 servers one by one would miss the 30-second goal.
REPAIR_WORKERS = 4
# A repair that keeps failing (after a host reboot, say, Open vSwitch never
# came up) is recorded as an instance fault after this long.
REPAIR_GIVE_UP_SECONDS = 300
# What a rescued server wants: its rescue container running.
RESCUED = 'rescued'


class Recovery(object):
    """Puts what the engine runs back in line with what Nova says."""

    def __init__(self, engine, namespaces, host):
        self._engine = engine
        self._namespaces = namespaces
        self.host = host
        # uuid -> (when its repair first failed, whether the whole state or
        # only the namespace is to be repaired); retried by the watch.
        self._pending = {}
        # uuids a pass over the host has still to bring back.
        self._restoring = set()
        self._pending_lock = threading.Lock()

    def awaits_restore(self, uuid):
        """Whether a repair is to bring this instance back. Until then its
        stopped container is the engine's doing, not the workload's: the
        driver then reports no state, which Nova's power sync ignores
        (it would stop a server it finds shut down)."""
        with self._pending_lock:
            return (uuid in self._restoring or
                    self._pending.get(uuid, (None, False))[1])

    # -- one instance ------------------------------------------------------

    def repair_namespace(self, instance, network_info):
        """Infra container running (made again if gone), every port
        plugged, and the workload in that namespace: one left running in a
        namespace that went away is restarted into the new one, or made
        again if its infra container was. Raises what fails."""
        outcome = self._namespaces.ensure(instance, network_info)
        if outcome == infra.REMADE:
            LOG.warning('Making the workload container again (same files) '
                        'to join its new infra container', instance=instance)
            self._engine.rejoin(instance.uuid,
                                naming.infra_name(instance.uuid))
        elif (outcome == infra.RESTARTED and
              self._engine.is_running(instance.uuid)):
            LOG.info('Restarting the workload into its new network '
                     'namespace', instance=instance)
            self._engine.kill(instance.uuid)
            self._engine.start(instance.uuid)

    def plug_vifs(self, instance, network_info):
        """init_host's repair: one broken instance never stops the service.
        Raises only WorkloadGone (nova-compute then puts that server in
        ERROR, with this fault, and carries on)."""
        try:
            self._engine.inspect(instance.uuid)
            self.repair_namespace(instance, network_info)
        except nova_exception.InstanceNotFound:
            error = exception.WorkloadGone(instance_uuid=instance.uuid,
                                           engine=self._engine.engine_name)
            LOG.error('%s', error, instance=instance)
            self._record_fault(instance, error)
            raise error
        except Exception as e:
            LOG.warning('Network namespace not repaired yet (%s); retrying '
                        'in the background', e, instance=instance)
            self._defer(instance.uuid, whole=False)
        else:
            self._forget(instance.uuid)

    def restore(self, instance):
        """Bring one instance to the state Nova has for it."""
        wanted = _wanted_state(instance)
        if wanted is None:
            self._forget(instance.uuid)
            return
        if wanted == RESCUED:
            self._restore_rescue(instance)
            self._forget(instance.uuid)
            return
        self.repair_namespace(instance, instance.get_network_info())
        state = self._engine.inspect(instance.uuid)['State']
        if not state.get('Running'):
            self._engine.start(instance.uuid)
            LOG.info('Started again after an engine restart',
                     instance=instance)
        if wanted == power_state.PAUSED:
            self._engine.pause(instance.uuid)
        self._forget(instance.uuid)

    def _restore_rescue(self, instance):
        """A rescued server runs its rescue container again, in the
        server's namespace; the original stays stopped (its files are
        mounted for the rescue container, see nova_docker/rescue.py)."""
        outcome = self._namespaces.ensure(instance,
                                          instance.get_network_info())
        record = self._engine.inspect_rescue(instance.uuid)
        if record is None:
            raise exception.RescueGone(instance_uuid=instance.uuid,
                                       engine=self._engine.engine_name)
        if outcome == infra.REMADE:
            self._engine.rejoin(instance.uuid,
                                naming.infra_name(instance.uuid),
                                name=naming.rescue_name(instance.uuid))
        elif outcome == infra.RESTARTED and record['State'].get('Running'):
            self._engine.kill_rescue(instance.uuid)
        if not self._engine.inspect_rescue(instance.uuid)['State'].get(
                'Running'):
            self._engine.start_rescue(instance.uuid)
            LOG.info('Rescue container started again after an engine '
                     'restart', instance=instance)

    # -- the whole host ----------------------------------------------------

    def restore_host(self, only=None):
        """Restore every instance Nova places on this host, a few at a
        time; one failing never stops the others. ``only`` maps the uuids
        to retry to whether their whole state (or only their namespace) is
        to be repaired."""
        context = nova_context.get_admin_context()
        instances = objects.InstanceList.get_by_host(
            context, self.host, expected_attrs=['info_cache'])
        todo = [i for i in instances if only is None or i.uuid in only]
        if not todo:
            return
        started = time.monotonic()
        queue = list(todo)
        lock = threading.Lock()
        with self._pending_lock:
            self._restoring.update(i.uuid for i in todo)

        def work():
            while True:
                with lock:
                    if not queue:
                        return
                    instance = queue.pop()
                try:
                    with _logged('Bringing an instance back'):
                        self._restore_locked(
                            context, instance,
                            only is None or only[instance.uuid])
                finally:
                    with self._pending_lock:
                        self._restoring.discard(instance.uuid)

        workers = [threading.Thread(target=work, daemon=True,
                                    name='nova-docker-restore')
                   for _ in range(min(REPAIR_WORKERS, len(todo)))]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        LOG.info('Checked %d instances after the engine came back in '
                 '%.1f s', len(todo), time.monotonic() - started)

    def _restore_locked(self, context, instance, whole):
        # Nova's own operations on the instance hold this lock (its
        # utils.synchronized): wait for them, then act on what the database
        # says now.
        with lockutils.lock(instance.uuid):
            try:
                instance.refresh()
            except nova_exception.InstanceNotFound:
                return   # deleted meanwhile
            try:
                if whole:
                    self.restore(instance)
                else:
                    self.repair_namespace(instance,
                                          instance.get_network_info())
                    self._forget(instance.uuid)
            except nova_exception.InstanceNotFound as e:
                LOG.error('Cannot bring the instance back: %s', e,
                          instance=instance)
                self._record_fault(instance, e, context)
            except Exception as e:
                LOG.warning('Bringing the instance back failed (%s); '
                            'retrying', e, instance=instance)
                self._defer(instance.uuid, whole, instance, e, context)

    def is_pending(self, uuid):
        """Whether a failed repair of this instance is to be retried."""
        with self._pending_lock:
            return uuid in self._pending

    def retry_pending(self):
        with self._pending_lock:
            pending = {uuid: whole
                       for uuid, (_, whole) in self._pending.items()}
        if pending:
            self.restore_host(only=pending)

    # -- repairs that failed -----------------------------------------------

    def _defer(self, uuid, whole, instance=None, error=None, context=None):
        with self._pending_lock:
            first, _ = self._pending.setdefault(
                uuid, (time.monotonic(), whole))
        if (instance is not None and
                time.monotonic() - first > REPAIR_GIVE_UP_SECONDS):
            LOG.error('Giving up bringing the instance back after %d s: %s',
                      REPAIR_GIVE_UP_SECONDS, error, instance=instance)
            self._record_fault(instance, error, context)
            self._forget(uuid)

    def _forget(self, uuid):
        with self._pending_lock:
            self._pending.pop(uuid, None)

    @staticmethod
    def _record_fault(instance, error, context=None):
        try:
            compute_utils.add_instance_fault_from_exc(
                context or nova_context.get_admin_context(), instance, error)
        except Exception:
            LOG.exception('Recording the fault failed', instance=instance)


def _wanted_state(instance):
    """What should run for this instance after a restart: RUNNING, PAUSED,
    or None to leave it alone (stopped, or in Nova's hands)."""
    if instance.task_state is not None or instance.deleted:
        return None
    if instance.vm_state == vm_states.ACTIVE:
        return power_state.RUNNING
    if instance.vm_state == vm_states.PAUSED:
        return power_state.PAUSED
    if instance.vm_state == vm_states.RESCUED:
        return RESCUED
    return None


@contextlib.contextmanager
def reported_if_missing(context, instance):
    """For operations Nova ends quietly when the driver raises
    InstanceNotFound (snapshot): leave the server without a task, with a
    fault saying why, then let Nova see the InstanceNotFound."""
    try:
        yield
    except nova_exception.InstanceNotFound as e:
        LOG.error('The container of this instance is gone: %s', e,
                  instance=instance)
        instance.task_state = None
        instance.save()
        Recovery._record_fault(instance, e, context)
        raise


class EngineWatch(object):
    """The one owner of "the engine went away and came back": a native
    thread that notices engine restarts (its own probes, or the event
    stream ending: ``engine_lost``), brings servers back, and until then
    holds the stopped events of this host's containers, which are then
    the engine's doing (a crashed engine stops every container when it
    starts again without ``live-restore``), not the workloads'. Once the
    servers are back, a held stop is reported only if its container still
    does not run: recovery decides, never a race between the two."""

    def __init__(self, engine, recovery, interval, emit, on_back=None,
                 on_silent=None):
        self._engine = engine
        self._recovery = recovery
        self._interval = interval
        self._emit = emit
        # Called (in the watch thread) when the engine answers after a
        # silence or a restart, before servers are brought back.
        self._on_back = on_back
        # Called (in the watch thread) once per silence, when a probe
        # finds the engine not answering.
        self._on_silent = on_silent
        self._silent = False
        self._lock = threading.Lock()
        self._lost = False           # a restore is due
        self._losses = 0             # times the engine was found gone
        self._held = {}              # uuid -> held STOPPED LifecycleEvent
        self._wake = threading.Event()
        self._stop = None
        self._thread = None

    def start(self):
        """Start watching (again: nova-compute may stop and start its
        service with the same driver)."""
        if not self._interval or (self._thread is not None and
                                  self._thread.is_alive()):
            return
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(self._stop,), daemon=True,
            name='nova-docker-engine-watch')
        self._thread.start()

    def stop(self):
        if self._thread is None:
            return
        self._stop.set()
        self._wake.set()
        self._thread.join(PROBE_TIMEOUT + self._interval)
        self._thread = None

    def engine_lost(self):
        """The engine went away (the event stream ended): servers are to
        be checked when it answers, and its stops held until then."""
        if not self._interval:
            return
        with self._lock:
            self._lost = True
            self._losses += 1
        self._wake.set()

    def restore_due(self):
        """Whether the engine went away and its servers are not all back
        yet (then a stopped container is the engine's doing)."""
        with self._lock:
            return self._lost

    def hold_stop(self, lifecycle):
        """Keep a STOPPED event until the servers are back; False (emit it
        now) when no restore is due."""
        with self._lock:
            if not self._lost:
                return False
            self._held[lifecycle.get_instance_uuid()] = lifecycle
        LOG.info('Stop seen while the engine at %s comes back: reported '
                 'only if the container does not run once servers are back',
                 self._engine.url,
                 instance_uuid=lifecycle.get_instance_uuid())
        return True

    def _run(self, stop):
        known = self._engine.identity(PROBE_TIMEOUT)
        if known is None:
            self.engine_lost()
        while not stop.is_set():
            self._wake.wait(self._interval)
            self._wake.clear()
            if stop.is_set():
                return
            with _logged('Engine watch'):
                known = self._check(known)

    def _check(self, known):
        identity = self._engine.identity(PROBE_TIMEOUT)
        with self._lock:
            lost, losses = self._lost, self._losses
            if identity is None and not lost:
                LOG.warning('The %s at %s stopped answering',
                            self._engine.engine_name, self._engine.url)
                self._lost = True
        if identity is None:
            if not self._silent and self._on_silent is not None:
                self._on_silent()
            self._silent = True
            return known
        self._silent = False
        if lost or identity != known:
            with self._lock:
                self._lost = True
            LOG.warning('The %s at %s is back (new process: %s); '
                        'bringing servers back', self._engine.engine_name,
                        self._engine.url,
                        known is not None and identity != known)
            if self._on_back is not None:
                self._on_back()
            self._recovery.restore_host()
            self._release_held(losses)
        else:
            self._recovery.retry_pending()
            self._release_held(losses)
        return identity

    def _release_held(self, losses):
        """Report the held stops of containers that do not run; keep those
        whose repair is to be retried (recovery still decides)."""
        with self._lock:
            if self._losses != losses:
                return   # gone again meanwhile: held until its next return
            self._lost = False
            held, self._held = self._held, {}
        for uuid, lifecycle in held.items():
            try:
                keep = self._recovery.is_pending(uuid)
                running = not keep and self._engine.is_running(uuid)
            except exception.EngineUnavailable:
                keep = True   # gone again: held until its next return
            if keep:
                with self._lock:
                    self._held.setdefault(uuid, lifecycle)
            elif running:
                LOG.info('Not reporting the stop: running again after the '
                         'engine came back', instance_uuid=uuid)
            else:
                self._emit(lifecycle)


@contextlib.contextmanager
def _logged(what):
    """A background loop must outlive any one failure."""
    try:
        yield
    except Exception:
        LOG.exception('%s failed; carrying on', what)
