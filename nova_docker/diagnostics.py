"""Pure: one sample of engine statistics -> Nova's server diagnostics.

Inputs are the engine's one-shot stats of the workload container, its
inspect record (state, start time), and the host-side counters of each
Neutron port's veth (the workload's NICs live in its infra container's
namespace, which the engine does not count). A container has no virtual
disks: its block I/O is reported as one disk.
"""

from nova.compute import power_state
from nova.objects import diagnostics as diagnostics_obj
from oslo_utils import timeutils
from oslo_utils import units

# Nova's HypervisorDriver enum has no "docker" value: the driver field
# stays unset (null) rather than naming another driver.
HYPERVISOR = 'docker'
HYPERVISOR_OS = 'linux'


def uptime(engine_state, now):
    """Seconds since the running container started, else None.

    :param engine_state: the State of the engine's inspect record
    :param now: an aware datetime
    """
    if not engine_state.get('Running') or not engine_state.get('StartedAt'):
        return None
    started_at = timeutils.parse_isotime(engine_state['StartedAt'])
    return max(0, int(timeutils.delta_seconds(started_at, now)))


def cpu_time(stats):
    """CPU time used by the container, in nanoseconds."""
    return ((stats.get('cpu_stats') or {}).get('cpu_usage') or {}).get(
        'total_usage')


def memory(stats):
    """(limit, used) in bytes; used leaves out the page cache, as
    ``docker stats`` does."""
    mem = stats.get('memory_stats') or {}
    usage = mem.get('usage')
    if usage is not None:
        usage -= (mem.get('stats') or {}).get('cache', 0)
    return mem.get('limit'), usage


def block_io(stats):
    """{'read_bytes', 'write_bytes', 'read_requests', 'write_requests'}
    summed over the devices the container used."""
    blkio = stats.get('blkio_stats') or {}
    totals = {'read_bytes': 0, 'write_bytes': 0, 'read_requests': 0,
              'write_requests': 0}
    for key, suffix in (('io_service_bytes_recursive', 'bytes'),
                        ('io_serviced_recursive', 'requests')):
        for row in blkio.get(key) or []:
            op = (row.get('op') or '').lower()
            if op in ('read', 'write'):
                totals['%s_%s' % (op, suffix)] += row.get('value', 0)
    return totals


def guest_nic(mac_address, host_counters):
    """One NIC as the guest sees it, from its host end's counters (named
    as /sys/class/net/<dev>/statistics names them: rx_bytes, rx_packets,
    rx_errors, rx_dropped, tx_...): the host end's receive is the guest's
    transmit and the other way round."""
    def count(direction, name):
        return host_counters.get('%s_%s' % (direction, name))
    return dict(mac_address=mac_address,
                rx_octets=count('tx', 'bytes'),
                rx_packets=count('tx', 'packets'),
                rx_errors=count('tx', 'errors'),
                rx_drop=count('tx', 'dropped'),
                tx_octets=count('rx', 'bytes'),
                tx_packets=count('rx', 'packets'),
                tx_errors=count('rx', 'errors'),
                tx_drop=count('rx', 'dropped'))


def instance_diagnostics(state, engine_state, stats, now, nics,
                         config_drive):
    """Nova's Diagnostics object (microversion 2.48).

    :param state: Nova power state of the container
    :param engine_state: the State of the engine's inspect record
    :param stats: the engine's one-shot statistics of the container
    :param now: an aware datetime
    :param nics: [(mac address, host-side counters dict)], one per port
    """
    diags = diagnostics_obj.Diagnostics(
        state=power_state.STATE_MAP[state], hypervisor=HYPERVISOR,
        hypervisor_os=HYPERVISOR_OS, uptime=uptime(engine_state, now),
        config_drive=config_drive)
    diags.add_cpu(id=0, time=cpu_time(stats))
    limit, used = memory(stats)
    diags.memory_details = diagnostics_obj.MemoryDiagnostics(
        maximum=None if limit is None else limit // units.Mi,
        used=None if used is None else used // units.Mi)
    for mac, counters in nics:
        diags.add_nic(**guest_nic(mac, counters))
    diags.add_disk(errors_count=None, **block_io(stats))
    return diags


def legacy(diags):
    """The pre-2.48 free-form dictionary, named the way the libvirt driver
    names its keys (cpu0_time, memory, <nic>_rx, ...)."""
    out = {'cpu0_time': diags.cpu_details[0].time,
           'memory_mb': diags.memory_details.maximum,
           'memory_used_mb': diags.memory_details.used,
           'uptime': diags.uptime}
    disk = diags.disk_details[0]
    out.update({'disk_read': disk.read_bytes,
                'disk_write': disk.write_bytes,
                'disk_read_req': disk.read_requests,
                'disk_write_req': disk.write_requests})
    for index, nic in enumerate(diags.nic_details):
        prefix = 'eth%d' % index
        out.update({prefix + '_rx': nic.rx_octets,
                    prefix + '_rx_packets': nic.rx_packets,
                    prefix + '_rx_errors': nic.rx_errors,
                    prefix + '_rx_drop': nic.rx_drop,
                    prefix + '_tx': nic.tx_octets,
                    prefix + '_tx_packets': nic.tx_packets,
                    prefix + '_tx_errors': nic.tx_errors,
                    prefix + '_tx_drop': nic.tx_drop})
    return out
