"""The compute service follows its engine: disabled while the engine does
not answer, enabled again when it is back.

So the scheduler sends no boot and no move to a host that could not run
it. A cold migration or resize to such a host would otherwise stop the
server on its source, send its files, and only then fail on the target
(Nova's finish_resize), leaving the server in ERROR there; Nova calls no
driver method on the target before the source acts, so the scheduler is
where the target can say no. As Nova's libvirt driver does for a lost
connection to libvirtd: the reason starts with ``AUTO:``, and a service
an operator disabled is never enabled by this.
"""

from nova import context as nova_context
from nova import exception as nova_exception
from nova import objects
from oslo_log import log as logging

LOG = logging.getLogger(__name__)

# The libvirt driver's prefix for reasons it set itself: operators and
# tools already know it.
AUTO_PREFIX = 'AUTO: '


class ServiceStatus(object):

    def __init__(self, virtapi, host):
        self._virtapi = virtapi
        self.host = host

    def engine_gone(self, engine_name, url):
        """``engine_name``: what the engine is ('Podman engine', ...)."""
        self._set(False, 'the %s at %s does not answer' % (engine_name, url))

    def engine_back(self):
        self._set(True, None)

    def _set(self, enabled, reason):
        context = nova_context.get_admin_context()
        try:
            service = objects.Service.get_by_compute_host(context, self.host)
        except nova_exception.ComputeHostNotFound:
            return   # not registered yet: nothing is scheduled here either
        if service.disabled != enabled:
            return   # already so
        if service.disabled and not (
                service.disabled_reason or '').startswith(AUTO_PREFIX):
            LOG.info('The engine answers again; the compute service stays '
                     'disabled as its operator left it (%s)',
                     service.disabled_reason)
            return
        service.disabled = not enabled
        service.disabled_reason = AUTO_PREFIX + reason if reason else None
        service.save()
        if enabled:
            LOG.warning('Compute service enabled again: the engine answers')
        else:
            LOG.warning('Compute service disabled until the engine answers '
                        '(%s): no boots or moves are scheduled here', reason)
        try:
            self._virtapi.update_compute_provider_status(
                context, service.compute_node.uuid, enabled)
        except Exception:  # noqa: B902 - placement client errors vary
            # The service's own state already keeps the scheduler away;
            # Nova's periodic resource update syncs the trait.
            LOG.warning('Could not update the compute node\'s '
                        'COMPUTE_STATUS_DISABLED trait', exc_info=True)
