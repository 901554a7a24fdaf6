"""Waiting for Neutron's network-vif-plugged while ports are plugged.

As the libvirt driver does: with Nova's vif_plugging_timeout and
vif_plugging_is_fatal, and only when the instance is to run (a server
created stopped does not wait: nothing runs on its ports yet).
"""

import contextlib
import functools

from nova import conf as nova_conf
from nova import exception as nova_exception
from oslo_log import log as logging

CONF = nova_conf.CONF
LOG = logging.getLogger(__name__)


def waiter(virtapi, instance, power_on):
    """A context manager factory taking the events to wait for, as
    NetworkNamespaces.creating and Migrations.finish want it."""
    return functools.partial(waiting, virtapi, instance, power_on)


@contextlib.contextmanager
def waiting(virtapi, instance, power_on, events):
    """Run the body of the with statement (the plug), then wait for
    ``events`` until Nova's vif_plugging_timeout."""
    timeout = CONF.vif_plugging_timeout
    if not (events and power_on and timeout):
        yield
        return
    try:
        with virtapi.wait_for_instance_event(
                instance, events, timeout=timeout,
                error_callback=_failed):
            yield
    except nova_exception.InstanceEventTimeout:
        LOG.warning('Timeout waiting for %s for instance with vm_state '
                    '%s and task_state %s.', events, instance.vm_state,
                    instance.task_state, instance=instance)
        if CONF.vif_plugging_is_fatal:
            raise nova_exception.VirtualInterfaceCreateException()


def _failed(event_name, instance):
    LOG.error('Neutron reported failure on event %s', event_name,
              instance=instance)
    if CONF.vif_plugging_is_fatal:
        raise nova_exception.VirtualInterfaceCreateException()
