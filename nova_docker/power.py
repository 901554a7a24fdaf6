"""Engine container state -> Nova power state (pure)."""

from nova.compute import power_state
from nova.compute import vm_states

# Keys are the engine's State.Status values (API 1.41+).
_BY_STATUS = {
    'created': power_state.SHUTDOWN,     # made but never started
    'running': power_state.RUNNING,
    'paused': power_state.PAUSED,
    'restarting': power_state.RUNNING,   # on its way back up
    'removing': power_state.NOSTATE,
    'exited': power_state.SHUTDOWN,
    'dead': power_state.CRASHED,         # the engine failed to remove it
}


def from_engine(status, oom_killed=False):
    """Map an engine status (and OOM flag, when known) to a power state.

    A workload the kernel killed for lack of memory crashed; it did not
    shut down. The OOM flag is only in a full inspect, not in a listing.
    """
    if status == 'exited' and oom_killed:
        return power_state.CRASHED
    return _BY_STATUS.get(status, power_state.NOSTATE)


def for_instance(status, oom_killed, instance):
    """The power state to report to Nova for ``instance``'s container.

    Nova acts on a STOPPED lifecycle event only when the driver then says
    SHUTDOWN (any other state marks the event stale). So while Nova still
    runs the server (ACTIVE, no task), an OOM-killed workload is reported
    SHUTDOWN and Nova stops the server; from then on (powering off,
    stopped) it is CRASHED, which the server shows. ``oom_killed`` is None
    when unknown (a listing has no OOM flag): then a crash Nova recorded
    stands while the container stays exited.
    """
    if status == 'exited':
        if oom_killed is None:
            oom_killed = (instance.obj_attr_is_set('power_state') and
                          instance.power_state == power_state.CRASHED)
        if (oom_killed and instance.vm_state == vm_states.ACTIVE and
                instance.task_state is None):
            return power_state.SHUTDOWN
    return from_engine(status, oom_killed)
