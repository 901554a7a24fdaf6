"""Start-up reconciliation: what this compute host left on the engine and
the host that no instance here needs any more.

Nova 34 calls ``process_instances_at_startup`` during nova-compute's
``init_host``, after ``driver.init_host`` and after it destroyed the
instances evacuated from this host, with the instances it places here; no
request is handled before ``init_host`` ends. So at that moment nothing of
this host is in progress, and whatever carries this host's name but no
instance needs is a leftover of a crash (``kill -9``, host power loss) or of
a delete made while nova-compute was down. A server whose build was
interrupted gets a fault saying so (Nova then puts it in ERROR; deleting it
removes what the build made). Removed, each logged once:

- containers, workload or infra, labelled with this compute host for an
  instance Nova no longer places here. Kept: every instance Nova places on
  this host whatever its state (an ERROR one is cleaned up by its delete),
  and every instance with a migration from or to this host in progress.
  Other hosts' containers on a shared engine are never listed.
- the ports of such an instance, when Nova deleted it while it was on this
  host: its Open vSwitch ports (os-vif put the instance uuid in their
  external ids) and the host devices named after them. An instance that
  lives on another host now keeps its ports: on a switch shared with that
  host they have the same names.
- snapshot tags of this host's interrupted uploads and staging files of its
  interrupted downloads: both carry the compute host's name, so a host
  never takes another's work in progress.
"""

import collections
import os
import stat

from nova.compute import utils as compute_utils
from nova.compute import vm_states
from nova import exception as nova_exception
from nova import objects
from nova import utils as nova_utils
from oslo_log import log as logging

from nova_docker import exception
from nova_docker import naming
from nova_docker import network
from nova_docker import rescue

LOG = logging.getLogger(__name__)


def reconcile(context, engine, images, host, instances):
    """Remove this host's leftovers; never raises: start-up housekeeping
    must not stop nova-compute from starting (Nova's periodic
    ``_cleanup_running_deleted_instances`` is the backstop). Returns
    whether the engine did not answer: then ``reconcile_containers`` is
    due when it does."""
    engine_away = False
    for step, args in ((_fault_interrupted_builds, (context, host,
                                                    instances)),
                       (_containers, (context, engine, host, instances)),
                       (_snapshot_tags, (engine, host)),
                       (_staging_files, (images.staging_dir, host))):
        try:
            step(*args)
        except exception.EngineUnavailable as e:
            engine_away = True
            LOG.warning('Start-up cleanup of leftovers (%s) skipped: %s',
                        step.__name__, e.format_message())
        except Exception:  # noqa: B902 - see the docstring
            LOG.exception('Start-up cleanup of leftovers (%s) failed; '
                          'nova-compute starts anyway', step.__name__)
    return engine_away


def reconcile_containers(context, engine, host):
    """The containers' part of the start-up cleanup, once an engine that
    did not answer at start-up does, against what Nova places here now
    (a build, move or evacuation under way since is placed here). Snapshot
    tags wait for the next start: an upload may be under way by now."""
    try:
        _containers(context, engine, host,
                    objects.InstanceList.get_by_host(context, host))
    except Exception:  # noqa: B902 - see reconcile
        LOG.exception('Cleanup of leftover containers failed')


def placed_here(context, host, instances):
    """Uuids of the instances Nova places on this host: those it gave us
    and those migrating from or to it (host and node have one name)."""
    uuids = {instance.uuid for instance in instances}
    migrations = objects.MigrationList.get_in_progress_by_host_and_node(
        context, host, host)
    return uuids | {migration.instance_uuid for migration in migrations}


def _fault_interrupted_builds(context, host, instances):
    """Nova puts a server whose build the restart interrupted in ERROR
    without saying why: say it, and what to do."""
    for instance in instances:
        if instance.vm_state == vm_states.BUILDING:
            compute_utils.add_instance_fault_from_exc(
                context, instance, exception.BuildInterrupted(host=host))


def _containers(context, engine, host, instances):
    keep = placed_here(context, host, instances)
    leftovers = collections.defaultdict(list)
    for container_id, (uuid, name) in engine.owned_containers(host).items():
        if uuid not in keep:
            leftovers[uuid].append((container_id, name))
    for uuid, containers in sorted(leftovers.items()):
        why, ports_are_ours = _why_leftover(context, host, uuid)
        port_ids = []
        # Only an instance with ports has an infra container: port-less
        # ones never wait on a switch that may not even run here.
        if ports_are_ours and any(name == naming.infra_name(uuid)
                                  for _, name in containers):
            port_ids = _remove_ports(uuid)
        if any(name == naming.rescue_name(uuid) for _, name in containers):
            # Deleted while rescued: the original's layers are mounted.
            rescue.release_files(uuid)
        # The infra container last: Podman refuses to remove a namespace
        # owner while a container joins it.
        for container_id, _name in sorted(
                containers, key=lambda c: c[1] == naming.infra_name(uuid)):
            engine.remove_by_id(container_id)
        LOG.info('Removed leftover containers %(names)s of instance '
                 '%(uuid)s (%(why)s)%(ports)s',
                 {'names': ', '.join(sorted(n for _, n in containers)),
                  'uuid': uuid, 'why': why,
                  'ports': ' and its ports %s' % ', '.join(port_ids)
                  if port_ids else ''})


def _remove_ports(uuid):
    try:
        return network.remove_switch_ports(uuid)
    except Exception:  # noqa: B902 - ovsdbapp's errors have no common base
        # The containers still go; Open vSwitch keeps a port row, which
        # the operator can remove (logged with the instance uuid).
        LOG.exception('Removing the Open vSwitch ports of leftover '
                      'instance %s failed', uuid)
        return []


def _why_leftover(context, host, uuid):
    """(why, whether its ports are this host's to remove): only those of
    an instance Nova deleted while it was on this host. Its network info
    is gone by then (Nova deallocated the ports), so they are found on the
    switch by the instance uuid os-vif put there."""
    with nova_utils.temporary_mutation(context, read_deleted='yes'):
        try:
            instance = objects.Instance.get_by_uuid(context, uuid)
        except nova_exception.InstanceNotFound:
            return 'unknown to Nova', False
    if instance.deleted:
        return 'deleted', instance.host == host
    return 'now on host %s' % instance.host, False


def _snapshot_tags(engine, host):
    suffix = ':' + naming.host_tag(host)
    for ref in sorted(engine.tagged_images(naming.SNAPSHOT_REPOSITORY)):
        if ref.endswith(suffix) and engine.untag_image(ref):
            LOG.info('Removed the image %s of an interrupted snapshot '
                     'upload', ref)


def _staging_files(staging_dir, host):
    prefix = naming.staging_prefix(host)
    for name in sorted(os.listdir(staging_dir)):
        if not name.startswith(prefix):
            continue
        path = os.path.join(staging_dir, name)
        info = os.lstat(path)
        # Ours: a plain file this process's user made (never follow a
        # link in a shared temporary directory).
        if stat.S_ISREG(info.st_mode) and info.st_uid == os.geteuid():
            os.unlink(path)
            LOG.info('Removed %s, the staging file of an interrupted image '
                     'download (%d bytes)', path, info.st_size)
