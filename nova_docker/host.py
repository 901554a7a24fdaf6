"""The compute host as Nova and Placement see it."""

import os
import platform
import stat
import time

from nova.compute import utils as compute_utils
from nova.objects import fields
from oslo_log import log as logging
from oslo_serialization import jsonutils
from oslo_utils import units
import os_resource_classes as orc

from nova_docker import spec

LOG = logging.getLogger(__name__)


def facts(engine_info):
    """What this host can enforce, from the engine's self-description."""
    root = engine_info.get('DockerRootDir') or ''
    return spec.HostFacts(io_device=block_device_of(root),
                          root_disk_quota=storage_takes_size(engine_info))


def block_device_of(path):
    """Whole-disk device node holding ``path``, or None.

    The engine's I/O throttles take a device node; cgroup v1 throttles
    whole disks only, so a partition is traced to its parent disk.
    """
    try:
        dev = os.stat(path).st_dev
    except OSError:
        return None  # an engine on another host: nothing local to throttle
    sysfs = '/sys/dev/block/%d:%d' % (os.major(dev), os.minor(dev))
    if not os.path.exists(sysfs):
        return None  # overlay, tmpfs and other virtual filesystems
    disk = os.path.realpath(sysfs)
    if os.path.exists(os.path.join(disk, 'partition')):
        disk = os.path.dirname(disk)
    node = os.path.join('/dev', os.path.basename(disk))
    try:
        if stat.S_ISBLK(os.stat(node).st_mode):
            return node
    except OSError:
        pass
    return None


def storage_takes_size(engine_info, mounts_file='/proc/mounts'):
    """Whether the storage driver enforces a container root size.

    overlay2 does only on xfs mounted with project quotas; zfs and btrfs
    always take the option.
    """
    driver = engine_info.get('Driver')
    if driver in ('zfs', 'btrfs'):
        return True
    if driver != 'overlay2':
        return False
    status = dict(engine_info.get('DriverStatus') or [])
    if status.get('Backing Filesystem') != 'xfs':
        return False
    root = engine_info.get('DockerRootDir') or ''
    options = _mount_options(root, mounts_file)
    return bool({'prjquota', 'pquota'} & options)


def _mount_options(path, mounts_file):
    """Options of the mount holding path (the longest matching point)."""
    best, options = '', set()
    try:
        with open(mounts_file) as mounts:
            for line in mounts:
                fields_ = line.split()
                point = fields_[1]
                if (path == point or path.startswith(point.rstrip('/') + '/')
                        or point == '/') and len(point) > len(best):
                    best, options = point, set(fields_[3].split(','))
    except OSError:
        pass
    return options


def disk_path(engine_info, instances_path):
    """Where container root filesystems live: the engine's root directory
    if it is on this host, else Nova's instances_path (an engine on
    another host, or one that does not say)."""
    root = engine_info.get('DockerRootDir')
    try:
        disk_gb(root)
        return root
    except (OSError, TypeError):
        return instances_path


def log_engine(engine, engine_info, host_facts):
    """Say at start-up which engine serves this host and what it
    enforces."""
    LOG.info('%(kind)s engine %(version)s (API %(api)s) at %(url)s: '
             'storage %(driver)s, I/O limits on %(dev)s, root disk size '
             '%(quota)s',
             {'kind': engine.dialect.name.capitalize(),
              'version': engine_info.get('ServerVersion'),
              'api': engine.api_version, 'url': engine.url,
              'driver': engine_info.get('Driver'),
              'dev': host_facts.io_device or 'no device',
              'quota': 'enforced' if host_facts.root_disk_quota
              else 'not enforced'})


def disk_gb(path):
    """Total and used GiB of the filesystem at path."""
    st = os.statvfs(path)
    total = st.f_frsize * st.f_blocks // units.Gi
    free = st.f_frsize * st.f_bavail // units.Gi
    return total, total - free


def resources(engine_info, nodename, instances_path):
    """The dict get_available_resource returns to the resource tracker."""
    total_gb, used_gb = disk_gb(disk_path(engine_info, instances_path))
    memory_mb = engine_info['MemTotal'] // units.Mi
    vcpus = engine_info['NCPU']
    return {
        'vcpus': vcpus,
        'memory_mb': memory_mb,
        'local_gb': total_gb,
        'vcpus_used': 0,
        'memory_mb_used': 0,
        'local_gb_used': used_gb,
        # What the hypervisor API shows as free for new root disks.
        'disk_available_least': total_gb - used_gb,
        'hypervisor_type': fields.HVType.DOCKER,
        'hypervisor_version': hypervisor_version(
            engine_info.get('ServerVersion')),
        'hypervisor_hostname': nodename,
        'cpu_info': jsonutils.dumps({
            'arch': arch(), 'vendor': None, 'model': None,
            'topology': {'sockets': 1, 'cores': vcpus, 'threads': 1},
            'features': []}),
        'supported_instances': [
            (arch(), fields.HVType.DOCKER, fields.VMMode.EXE)],
        'numa_topology': None,
    }


def arch():
    return fields.Architecture.canonicalize(platform.machine())


def hypervisor_version(server_version):
    """'20.10.24+dfsg1' -> 20010024, the integer Nova stores."""
    numbers = []
    for part in (server_version or '').split('+')[0].split('-')[0].split('.'):
        if not part.isdigit():
            break
        numbers.append(int(part))
    numbers = (numbers + [0, 0, 0])[:3]
    return numbers[0] * 1000000 + numbers[1] * 1000 + numbers[2]


def inventory(engine_info, ratios, conf):
    """Placement inventory of the compute node provider."""
    vcpus = engine_info['NCPU']
    memory_mb = engine_info['MemTotal'] // units.Mi
    total_gb, _used = disk_gb(disk_path(engine_info, conf.instances_path))
    return {
        orc.VCPU: {
            'total': vcpus, 'min_unit': 1, 'max_unit': vcpus,
            'step_size': 1, 'allocation_ratio': ratios[orc.VCPU],
            'reserved': conf.reserved_host_cpus,
        },
        orc.MEMORY_MB: {
            'total': memory_mb, 'min_unit': 1, 'max_unit': memory_mb,
            'step_size': 1, 'allocation_ratio': ratios[orc.MEMORY_MB],
            'reserved': conf.reserved_host_memory_mb,
        },
        orc.DISK_GB: {
            'total': total_gb, 'min_unit': 1, 'max_unit': total_gb,
            'step_size': 1, 'allocation_ratio': ratios[orc.DISK_GB],
            'reserved': compute_utils.convert_mb_to_ceil_gb(
                conf.reserved_host_disk_mb),
        },
    }


def uptime(proc_uptime='/proc/uptime'):
    """In the words of uptime(1): ' 18:04:05 up 3 days,  4:05'."""
    with open(proc_uptime) as f:
        seconds = int(float(f.read().split()[0]))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    up = '%d:%02d' % (hours, rest // 60)
    if days:
        up = '%d day%s, %s' % (days, '' if days == 1 else 's', up)
    return ' %s up %s' % (time.strftime('%H:%M:%S'), up)


# Counters of a network device, as /sys/class/net/<dev>/statistics has them.
NIC_COUNTERS = ('rx_bytes', 'rx_packets', 'rx_errors', 'rx_dropped',
                'tx_bytes', 'tx_packets', 'tx_errors', 'tx_dropped')


def nic_counters(device):
    """The kernel's counters of a host network device ({} if it is not
    there: a port not plugged, or an engine on another host)."""
    counters = {}
    for name in NIC_COUNTERS:
        try:
            with open('/sys/class/net/%s/statistics/%s' % (device, name)) as f:
                counters[name] = int(f.read())
        except (OSError, ValueError):
            pass
    return counters
