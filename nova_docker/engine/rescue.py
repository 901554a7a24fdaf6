"""A rescued instance's rescue container, beside its stopped workload."""

from nova import exception as nova_exception
from oslo_log import log as logging

from nova_docker import naming

LOG = logging.getLogger(__name__)


class RescueCalls(object):

    def create_rescue(self, instance_uuid, image_ref, create_args):
        """Create (not start) the instance's rescue container."""
        self.create_named(naming.rescue_name(instance_uuid), image_ref,
                          create_args, 'create the rescue container')

    def start_rescue(self, instance_uuid):
        with self._translated('start the rescue container',
                              self._missing(instance_uuid)):
            self.client.api.start(naming.rescue_name(instance_uuid))

    def kill_rescue(self, instance_uuid):
        """SIGKILL the running rescue container (to start it again in a
        new network namespace)."""
        with self._translated('kill the rescue container',
                              self._missing(instance_uuid)):
            self.client.api.kill(naming.rescue_name(instance_uuid))

    def inspect_rescue(self, instance_uuid):
        """The rescue container's engine record, or None if there is
        none."""
        try:
            with self._translated('inspect the rescue container',
                                  self._missing(instance_uuid)):
                return self.dialect.record(self.client.api.inspect_container(
                    naming.rescue_name(instance_uuid)))
        except nova_exception.InstanceNotFound:
            return None

    def remove_rescue(self, instance_uuid):
        """Remove the rescue container whatever its state; a missing one
        is fine."""
        try:
            with self._translated('remove the rescue container',
                                  self._missing(instance_uuid)):
                self.client.api.remove_container(
                    naming.rescue_name(instance_uuid), force=True, v=True)
        except nova_exception.InstanceNotFound:
            LOG.debug('Rescue container of %s was already gone',
                      instance_uuid)
