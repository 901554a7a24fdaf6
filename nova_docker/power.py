"""Engine container state -> Nova power state (pure)."""

from nova.compute import power_state

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
