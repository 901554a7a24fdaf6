"""Instance + flavor + image -> container create arguments (pure).

One small function per concern; ``build`` merges them. Nothing here talks
to the engine or to Nova's services: inputs are plain values, and the
output is the keyword arguments of the SDK's ``containers.create``.
"""

import collections
import shlex

from nova import exception as nova_exception
from oslo_utils import strutils
from oslo_utils import units

from nova_docker import naming

# The engine refuses smaller memory limits (API 1.41: "Minimum memory
# limit allowed is 6MB").
ENGINE_MIN_MEMORY_MB = 6
ENGINE_MIN_CPU_PERIOD_US = 1000
ENGINE_MAX_CPU_PERIOD_US = 1000000
ENGINE_MIN_CPU_QUOTA_US = 1000

# Nova's standard disk I/O extra specs -> the engine's per-device limits.
_DISK_IO_SPECS = {
    'quota:disk_read_bytes_sec': 'device_read_bps',
    'quota:disk_write_bytes_sec': 'device_write_bps',
    'quota:disk_read_iops_sec': 'device_read_iops',
    'quota:disk_write_iops_sec': 'device_write_iops',
}
# Standard specs the engine has no limit for.
UNENFORCEABLE_SPECS = ('quota:disk_total_bytes_sec',
                       'quota:disk_total_iops_sec')

HostFacts = collections.namedtuple(
    'HostFacts', ['io_device', 'root_disk_quota'])
HostFacts.__doc__ = """What the host can enforce.

io_device: block device holding the engine's data (for I/O limits), or
None. root_disk_quota: whether the storage driver takes a size option.
"""

ContainerSpec = collections.namedtuple(
    'ContainerSpec', ['create_args', 'unenforced'])


# The kernel's limit on a host name (one DNS label).
MAX_HOSTNAME = 63

# What a workload keeps of the engine's default capabilities: enough to
# run services as other users (SETUID/SETGID, CHOWN, FOWNER, FSETID,
# DAC_OVERRIDE, KILL), bind low ports and chroot. Dropped from the
# engine's defaults: NET_RAW (raw sockets: crafted packets; ping works
# through ICMP datagram sockets, see PING_SYSCTL), MKNOD (device nodes),
# SETFCAP and SETPCAP (file and process capability changes) and
# AUDIT_WRITE (the host's audit log).
CAPABILITIES = ('CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'FSETID', 'KILL',
                'SETGID', 'SETUID', 'NET_BIND_SERVICE', 'SYS_CHROOT')
# Flavor extra spec (admins set flavors; image properties never count):
# comma-separated capabilities to add, each one the operator allows in
# [docker] flavor_capabilities.
CAP_ADD_SPEC = 'docker:cap_add'
# Flavor extra spec: the workload runs on a terminal, its stdin open, and
# the serial console is that terminal (as a VM's serial console is the
# guest's own); without it each console connection gets a shell.
TTY_SPEC = 'docker:tty'
# Any group may open ICMP datagram sockets (ping without NET_RAW) in the
# server's own network namespace.
PING_SYSCTL = {'net.ipv4.ping_group_range': '0 2147483647'}
# The kernel refuses to exec with a single environment string over
# MAX_ARG_STRLEN (128 KiB); a total this size is a mistake or an attack.
MAX_ENV_BYTES = 128 * 1024


def names(instance):
    """(hostname, domain): an FQDN's first label and the rest. Nova
    allows 255-character FQDNs from microversion 2.94; the kernel takes at
    most 63 characters as a host name."""
    hostname, _dot, domain = (instance.hostname or instance.uuid).partition(
        '.')
    return hostname[:MAX_HOSTNAME], domain


def identity(instance, host, image_id):
    hostname, domain = names(instance)
    args = {
        'hostname': hostname,
        'labels': {
            naming.INSTANCE_UUID: instance.uuid,
            naming.INSTANCE_NAME: instance.name,
            naming.COMPUTE_HOST: host,
            naming.IMAGE_ID: image_id or '',
        },
    }
    if domain:
        args['domainname'] = domain
    return args


def command(image_config, os_command_line, image_id):
    """The workload: the Glance property os_command_line, else the image's
    own ENTRYPOINT/CMD. An image with neither cannot run."""
    if os_command_line and os_command_line.strip():
        try:
            return {'command': shlex.split(os_command_line)}
        except ValueError as e:
            raise nova_exception.ImageUnacceptable(
                image_id=image_id,
                reason='its os_command_line property cannot be parsed '
                       '(%s)' % e)
    config = image_config or {}
    env = config.get('Env') or []
    if not isinstance(env, list) or sum(
            len(str(entry)) for entry in env) > MAX_ENV_BYTES:
        raise nova_exception.ImageUnacceptable(
            image_id=image_id,
            reason='the image\'s Env is larger than %d KiB' % (
                MAX_ENV_BYTES // 1024))
    if config.get('Entrypoint') or config.get('Cmd'):
        return {}
    raise nova_exception.ImageUnacceptable(
        image_id=image_id,
        reason='the image has no command: give it an ENTRYPOINT or CMD, '
               'or set the Glance property os_command_line')


def memory(flavor):
    """Hard limit at the flavor's RAM, with no swap on top."""
    if flavor.memory_mb < ENGINE_MIN_MEMORY_MB:
        raise nova_exception.FlavorMemoryTooSmall(
            message='Flavor %s has %d MB of RAM; the container engine '
                    'needs at least %d MB.' % (flavor.name, flavor.memory_mb,
                                               ENGINE_MIN_MEMORY_MB))
    limit = flavor.memory_mb * units.Mi
    return {'mem_limit': limit, 'memswap_limit': limit}


def cpu(flavor, period_us, shares_per_vcpu):
    """vCPUs x period of CPU time per period, plus shares in proportion.

    A quota, unlike the engine's NanoCpus, may exceed the host's cores, so
    an overcommitted flavor (4 vCPUs on 2 cores) still gets a valid limit.
    quota:cpu_quota is per vCPU, as with libvirt; a negative value means
    no quota.
    """
    specs = flavor.extra_specs or {}
    period = _int_spec(specs, 'quota:cpu_period', period_us)
    if not ENGINE_MIN_CPU_PERIOD_US <= period <= ENGINE_MAX_CPU_PERIOD_US:
        raise _bad_spec(flavor, 'quota:cpu_period', period,
                        'must be between %d and %d microseconds' % (
                            ENGINE_MIN_CPU_PERIOD_US,
                            ENGINE_MAX_CPU_PERIOD_US))
    per_vcpu = _int_spec(specs, 'quota:cpu_quota', period)
    shares = _int_spec(specs, 'quota:cpu_shares',
                       flavor.vcpus * shares_per_vcpu)
    if shares < 2:
        raise _bad_spec(flavor, 'quota:cpu_shares', shares,
                        'must be at least 2')
    args = {'cpu_shares': shares}
    if per_vcpu >= 0:
        quota = per_vcpu * flavor.vcpus
        if quota < ENGINE_MIN_CPU_QUOTA_US:
            raise _bad_spec(flavor, 'quota:cpu_quota', per_vcpu,
                            'gives less than %d microseconds per period' %
                            ENGINE_MIN_CPU_QUOTA_US)
        args.update(cpu_period=period, cpu_quota=quota)
    return args


def disk_io(flavor, io_device):
    """Nova's quota:disk_* specs as limits on the engine's data device."""
    specs = flavor.extra_specs or {}
    args = {}
    for spec_key, engine_key in _DISK_IO_SPECS.items():
        if spec_key not in specs:
            continue
        rate = _int_spec(specs, spec_key, None)
        if rate <= 0:
            raise _bad_spec(flavor, spec_key, rate, 'must be positive')
        if io_device:
            args[engine_key] = [{'Path': io_device, 'Rate': rate}]
    return args


def root_disk(flavor, quota_supported, refuse_unenforced=False):
    """The flavor's root disk as the container's size limit where the
    storage driver enforces one; elsewhere refused if the operator says
    so ([docker] root_disk_unenforced = refuse), else run without."""
    if not flavor.root_gb:
        return {}
    if quota_supported:
        return {'storage_opt': {'size': '%dG' % flavor.root_gb}}
    if refuse_unenforced:
        raise nova_exception.InvalidInput(
            reason='flavor %s has a %d GB root disk, which the storage '
                   'driver of this host\'s engine cannot enforce; use a '
                   'flavor with disk 0 or a host whose engine can ([docker] '
                   'root_disk_unenforced = refuse)' % (
                       flavor.name, flavor.root_gb))
    return {}


def capabilities(flavor, allowed_extra):
    """Least capabilities: ALL dropped, CAPABILITIES added back, plus what
    the flavor's docker:cap_add asks for among what the operator allows."""
    wanted = (flavor.extra_specs or {}).get(CAP_ADD_SPEC) or ''
    extra = sorted({cap.strip().upper().replace('CAP_', '', 1)
                    for cap in wanted.split(',') if cap.strip()})
    allowed = {cap.upper().replace('CAP_', '', 1) for cap in allowed_extra}
    refused = [cap for cap in extra if cap not in allowed]
    if refused:
        raise _bad_spec(flavor, CAP_ADD_SPEC, wanted,
                        'asks for %s, which this host does not grant (the '
                        'operator allows: %s in [docker] '
                        'flavor_capabilities)' % (
                            ', '.join(refused),
                            ', '.join(sorted(allowed)) or 'none'))
    return {'cap_drop': ['ALL'],
            'cap_add': sorted(set(CAPABILITIES) | set(extra))}


def terminal(flavor):
    """A terminal and open stdin for the workload when the flavor's
    docker:tty asks for them."""
    value = (flavor.extra_specs or {}).get(TTY_SPEC)
    if value is None:
        return {}
    try:
        wanted = strutils.bool_from_string(value, strict=True)
    except ValueError:
        raise _bad_spec(flavor, TTY_SPEC, value, 'is neither true nor false')
    return {'tty': True, 'stdin_open': True} if wanted else {}


def processes(pids_limit):
    return {'pids_limit': pids_limit} if pids_limit > 0 else {}


def isolation():
    """Secure defaults that neither image properties nor tenants can
    loosen: no privileges, no host namespaces, no host mounts, the engine's
    default seccomp profile, no privilege gain through setuid binaries, and
    an init as PID 1 so that SIGTERM stops the workload gracefully."""
    return {
        'privileged': False,
        'security_opt': ['no-new-privileges:true'],
        'network_mode': 'none',
        'ipc_mode': 'private',
        'sysctls': dict(PING_SYSCTL),
        'init': True,
        'detach': True,
    }


def logging(max_size):
    return {'log_config': {'type': 'json-file',
                           'config': {'max-size': max_size,
                                      'max-file': '1'}}}


def unenforced(flavor, facts):
    """Limits the flavor asks for that this host cannot enforce."""
    specs = flavor.extra_specs or {}
    missing = [key for key in UNENFORCEABLE_SPECS if key in specs]
    if not facts.io_device:
        missing += [key for key in _DISK_IO_SPECS if key in specs]
    if flavor.root_gb and not facts.root_disk_quota:
        missing.append('root disk size')
    return missing


def build(instance, host, image_id, image_config, os_command_line,
          facts, docker_conf):
    flavor = instance.flavor
    args = {}
    for part in (identity(instance, host, image_id),
                 command(image_config, os_command_line, image_id),
                 memory(flavor),
                 cpu(flavor, docker_conf.cpu_period_us,
                     docker_conf.cpu_shares_per_vcpu),
                 disk_io(flavor, facts.io_device),
                 root_disk(flavor, facts.root_disk_quota,
                           docker_conf.root_disk_unenforced == 'refuse'),
                 processes(docker_conf.pids_limit),
                 logging(docker_conf.log_max_size),
                 capabilities(flavor, docker_conf.flavor_capabilities),
                 terminal(flavor),
                 isolation()):
        args.update(part)
    return ContainerSpec(args, unenforced(flavor, facts))


def _int_spec(specs, key, default):
    value = specs.get(key)
    if value is None:
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise nova_exception.InvalidInput(
            reason='flavor extra spec %s=%r is not an integer' % (key, value))


def _bad_spec(flavor, key, value, why):
    return nova_exception.InvalidInput(
        reason='flavor %s: extra spec %s=%s %s' % (flavor.name, key, value,
                                                   why))


def joined(create_args, infra_name):
    """The workload's arguments, joined to its infra container's network
    namespace (hostname, DNS and /etc/hosts come with it: the engine
    refuses them on a joining container)."""
    args = dict(create_args)
    for key in ('hostname', 'domainname', 'dns', 'extra_hosts', 'sysctls'):
        args.pop(key, None)
    args['network_mode'] = 'container:' + infra_name
    return args
