"""Errors of this driver, as Nova exceptions an operator can read.

Classes derive from the Nova exception the compute manager already knows
how to handle: an Invalid/ImageUnacceptable aborts a build with the
message as the instance fault; anything else may be rescheduled.
"""

import functools

from nova import exception


class EngineUnavailable(exception.HypervisorUnavailable):
    # engine: the engine's kind as far as known ('Docker engine', or
    # 'container engine' before it ever answered); service: what an
    # operator starts to serve it (engine.dialect).
    msg_fmt = ('The %(engine)s at %(url)s is not answering (%(reason)s). '
               'Start %(service)s on this host or fix [docker] api_url in '
               'nova.conf.')


class EngineError(exception.NovaException):
    msg_fmt = 'The %(engine)s failed to %(action)s: %(reason)s'


class EngineRefused(exception.InvalidInput):
    msg_fmt = 'The %(engine)s refused to %(action)s: %(reason)s'


class ContainerStateConflict(exception.Invalid):
    msg_fmt = 'Cannot %(action)s the container now: %(reason)s'


class ImageNotLoaded(exception.NotFound):
    """The engine has no image under this reference (not an operator
    error: the driver loads it from Glance)."""
    msg_fmt = 'Image %(ref)s is not loaded in the %(engine)s.'


class WorkloadExited(exception.BuildAbortException):
    # Nova keeps 255 characters of a fault: the output comes last.
    msg_fmt = ('Build of instance %(instance_uuid)s aborted: the workload '
               'exited at once with code %(exit_code)s (check its command); '
               'output: %(output)s')


class WorkloadStartFailed(exception.BuildAbortException):
    msg_fmt = ('Build of instance %(instance_uuid)s aborted: the %(engine)s '
               'could not start the workload: %(reason)s')


class UnsupportedVIFType(exception.BuildAbortException):
    msg_fmt = ('Build of instance %(instance_uuid)s aborted: port '
               '%(port_id)s has VIF type "%(vif_type)s", which nova-docker '
               'cannot plug into a container. Supported VIF types: '
               '%(supported)s.')


class NetworkPlugFailed(exception.VirtualInterfacePlugException):
    msg_fmt = ('Plugging port %(port_id)s into instance %(instance_uuid)s '
               'failed: %(reason)s')


class NetworkUnplugFailed(exception.VirtualInterfaceUnplugException):
    msg_fmt = ('Unplugging ports %(port_ids)s of instance %(instance_uuid)s '
               'failed: %(reason)s')


class NoNetworkNamespace(exception.Invalid):
    msg_fmt = ('Instance %(instance_uuid)s was booted without ports, so it '
               'has no network namespace to plug into: boot it with a port '
               'to hot-plug more.')


class MoveFailed(exception.MigrationError):
    msg_fmt = "Moving the server's files to the new host failed: %(reason)s"


class BuildInterrupted(exception.NovaException):
    msg_fmt = ('nova-compute on %(host)s stopped (crash or restart) while '
               'it was building this server; what the build had made is '
               'removed with the server: delete it and create it again.')


class WorkloadGone(exception.VirtualInterfacePlugException):
    # A plug exception because nova-compute's start-up handles exactly that
    # one per instance: it puts that server in ERROR and starts the others.
    msg_fmt = ('The container of instance %(instance_uuid)s is gone from '
               'the %(engine)s (removed outside Nova) and its files with '
               'it: rebuild or delete the server.')


class RescueGone(exception.NovaException):
    msg_fmt = ('The rescue container of instance %(instance_uuid)s is gone '
               'from the %(engine)s (removed outside Nova): unrescue the '
               'server.')


def abort_build_if_engine_away(spawn):
    """Decorates spawn: a build on a host whose engine does not answer
    fails at once with a fault naming the engine, instead of being
    rescheduled until Nova gives up with one that does not."""
    @functools.wraps(spawn)
    def wrapper(driver, context, instance, *args, **kwargs):
        try:
            return spawn(driver, context, instance, *args, **kwargs)
        except EngineUnavailable as e:
            raise exception.BuildAbortException(
                instance_uuid=instance.uuid, reason=e.format_message()) from e
    return wrapper


def answered_while_starting(make_answer):
    """nova-compute's start-up asks what runs (its evacuation check, each
    instance's power state) and stops the service on any error: while it
    starts without an engine, the answer is ``make_answer()`` (nothing
    known to run, power state NOSTATE, which Nova leaves alone). Once it
    takes requests (the driver's ``starting`` is false) the engine's error
    is raised again: an operation must never act on a guess."""
    def decorate(method):
        @functools.wraps(method)
        def wrapper(driver, *args, **kwargs):
            try:
                return method(driver, *args, **kwargs)
            except EngineUnavailable:
                if not driver.starting:
                    raise
                return make_answer()
        return wrapper
    return decorate


class BadReference(exception.Invalid):
    msg_fmt = 'Image reference %(reference)s is not valid: %(reason)s'


class StagingFull(exception.NovaException):
    msg_fmt = ('No room for a %(size)d-byte image download in %(directory)s '
               '(%(free)d bytes free); free space there or set [docker] '
               'image_staging_dir to a larger disk.')
