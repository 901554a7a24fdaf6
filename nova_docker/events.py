"""The engine's event stream -> Nova lifecycle events.

One long-lived subscription per compute host, filtered by the engine to
this host's containers, read by one background thread (plain threading:
Nova's own patching makes it a green thread in eventlet mode). Each
container start, death, pause and unpause becomes a
``virtevent.LifecycleEvent`` handed to Nova through the driver's
``emit_event``; Nova then syncs the server's power state at once instead
of at its next periodic sync (which stays as the backstop).

A death (kill, exit, OOM kill, crash) is delayed by ``[docker]
stopped_event_delay`` and cancelled by a start of the same container in the
meantime, as the libvirt driver does: a restart must never make Nova stop
the server. Nova itself ignores events of servers with a task under way
(its own reboots, stops, snapshots).

Deaths while the engine shuts down, or while it comes back after going
away, are its doing, not the workloads': when the stream ends the thread
tells the engine watch (``recovery.EngineWatch``, the one owner of "the
engine went away and came back"), which holds the stops it is handed
until the servers are back and then reports only those whose container
still does not run. A crashed engine (``kill -9``) started again without
``live-restore`` stops every container as it starts; the stream, resumed
from the time of the last event it saw, replays those deaths. The thread
waits (with backoff) and subscribes again; callbacks queued with
``when_engine_back`` (deletes asked for meanwhile) run once it answers.
"""

import threading

from nova.compute import power_state
from nova import exception as nova_exception
from nova import thread_pool_factory
from nova.virt import event as virtevent
from oslo_log import log as logging
from oslo_utils import units

from nova_docker import exception
from nova_docker import naming

LOG = logging.getLogger(__name__)

# Engine container actions -> Nova lifecycle transitions. 'die' is every
# way a workload stops: Nova's own stop, docker kill or stop, an exit, an
# OOM kill, a crash.
TRANSITIONS = {
    'start': virtevent.EVENT_LIFECYCLE_STARTED,
    'die': virtevent.EVENT_LIFECYCLE_STOPPED,
    'pause': virtevent.EVENT_LIFECYCLE_PAUSED,
    'unpause': virtevent.EVENT_LIFECYCLE_RESUMED,
}
# 'oom' comes just before the 'die' of an OOM kill: logged, so that the
# operator reads why; the server's power state says CRASHED (power.py).
ACTIONS = tuple(TRANSITIONS) + ('oom',)

# Waits between attempts to subscribe again while the engine is away.
FIRST_RETRY_SECONDS = 0.5
MAX_RETRY_SECONDS = 5.0
# How long stop() waits for the thread to notice.
STOP_SECONDS = 10.0


class EngineEvents(object):

    def __init__(self, engine, host, emit, stopped_delay, watch):
        self._engine = engine
        self._watch = watch
        self._host = host
        self._emit = emit
        self._stopped_delay = stopped_delay
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._stream = None
        self._pending_stops = {}      # instance uuid -> future
        self._when_back = []
        self._last_seen = None        # engine time of the last event (ns)
        self._delayed = None
        self._thread = None

    # -- control ----------------------------------------------------------

    def start(self):
        factory = thread_pool_factory
        self._delayed = (
            factory.StaticallyDelayingCancellableTaskExecutorWrapper(
                delay=self._stopped_delay,
                executor=factory.get_executor(
                    factory.ExecutorType.DEFAULT)))
        self._thread = threading.Thread(
            target=self._follow, name='nova-docker-events', daemon=True)
        self._thread.start()

    def stop(self):
        self._stopping.set()
        with self._lock:
            stream, self._stream = self._stream, None
            pending = list(self._pending_stops.values())
        if stream is not None:
            _close(stream)
        for future in pending:
            future.cancel()
        if self._delayed is not None:
            # Waits at most one stopped_event_delay (the pending ones are
            # cancelled above): nothing of ours may outlive the service.
            self._delayed.shutdown(wait=True)
        if self._thread is not None:
            self._thread.join(STOP_SECONDS)

    def when_engine_back(self, callback):
        """Run callback (once) when the engine answers again."""
        with self._lock:
            self._when_back.append(callback)

    # -- the thread -------------------------------------------------------

    def _follow(self):
        retry = FIRST_RETRY_SECONDS
        lost = False
        while not self._stopping.is_set():
            try:
                with self._engine.container_events(
                        self._host, ACTIONS, self._last_seen) as stream:
                    self._set_stream(stream)
                    if lost:
                        LOG.info('The %s at %s answers again: following '
                                 'its events', self._engine.engine_name,
                                 self._engine.url)
                        lost = False
                    retry = FIRST_RETRY_SECONDS
                    self._run_when_back()
                    for event in stream:
                        self._handle(event)
                # The stream ends when the engine goes away (or on stop).
                if not self._stopping.is_set():
                    LOG.warning('The event stream of the %s at %s ended; '
                                'following it again as soon as the engine '
                                'answers.', self._engine.engine_name,
                                self._engine.url)
            except exception.EngineUnavailable as e:
                if not lost:
                    LOG.warning('No event stream: %s Trying again every '
                                '%.0f s at most.', e, MAX_RETRY_SECONDS)
            except Exception:
                # Never let the thread die: the periodic sync would be all
                # that is left.
                LOG.exception('Reading the engine event stream failed')
            finally:
                self._set_stream(None)
            if self._stopping.is_set():
                return
            if not lost:
                self._watch.engine_lost()
            lost = True
            # A death seen while the engine was going away is the engine's
            # doing, not the workload's: such servers are dealt with when
            # the engine is back (and by the periodic sync).
            self._cancel_pending_stops()
            self._stopping.wait(retry)
            retry = min(retry * 2, MAX_RETRY_SECONDS)

    def _set_stream(self, stream):
        with self._lock:
            self._stream = stream
        if stream is not None and self._stopping.is_set():
            _close(stream)   # stop() came while we subscribed

    def _run_when_back(self):
        with self._lock:
            callbacks, self._when_back = self._when_back, []
        for callback in callbacks:
            try:
                callback()
            except exception.EngineUnavailable:
                self.when_engine_back(callback)
            except Exception:
                LOG.exception('A task waiting for the engine failed')

    def _handle(self, event):
        time_nano = event.get('timeNano')
        if time_nano is not None:
            if self._last_seen is not None and time_nano <= self._last_seen:
                return   # seen before we subscribed again
            self._last_seen = time_nano
        labels = (event.get('Actor') or {}).get('Attributes') or {}
        uuid = labels.get(naming.INSTANCE_UUID)
        if not uuid:
            return   # an infra container
        action = event.get('Action') or event.get('status')
        self._engine.forget_listing(self._host)
        if action == 'oom':
            self._report_oom(uuid)
            return
        lifecycle = virtevent.LifecycleEvent(uuid, TRANSITIONS[action])
        self._cancel_pending_stop(uuid)
        if lifecycle.transition == virtevent.EVENT_LIFECYCLE_STOPPED:
            future = self._delayed.submit_with_delay(self._emit_stopped,
                                                     lifecycle)
            with self._lock:
                self._pending_stops[uuid] = future
            future.add_done_callback(
                lambda done: self._forget_pending_stop(uuid, done))
        else:
            self._emit(lifecycle)

    def _emit_stopped(self, lifecycle):
        if self._engine.accepts_connections():
            if not self._watch.hold_stop(lifecycle):
                self._emit(lifecycle)
        else:
            LOG.info('Not reporting the stop: the engine at %s is going '
                     'away (it stops containers as it shuts down).',
                     self._engine.url,
                     instance_uuid=lifecycle.get_instance_uuid())

    def _report_oom(self, uuid):
        try:
            memory = self._engine.inspect(uuid)['HostConfig'].get('Memory')
        except nova_exception.NovaException:
            memory = None   # removed or engine gone: still worth a line
        LOG.warning('Workload killed: out of memory (flavor RAM %s MiB); '
                    'the server is stopped with power state %s.',
                    memory // units.Mi if memory else 'unknown',
                    power_state.STATE_MAP[power_state.CRASHED],
                    instance_uuid=uuid)

    # -- delayed STOPPED events -------------------------------------------

    def _cancel_pending_stop(self, uuid):
        with self._lock:
            future = self._pending_stops.pop(uuid, None)
        if future is not None and future.cancel():
            LOG.debug('Dropped the pending stopped event: the container '
                      'started again', instance_uuid=uuid)

    def _forget_pending_stop(self, uuid, done):
        with self._lock:
            if self._pending_stops.get(uuid) is done:
                del self._pending_stops[uuid]

    def _cancel_pending_stops(self):
        with self._lock:
            pending, self._pending_stops = self._pending_stops, {}
        for future in pending.values():
            future.cancel()


def _close(stream):
    try:
        stream.close()
    except OSError:
        pass
