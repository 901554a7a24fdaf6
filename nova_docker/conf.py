"""The ``[docker]`` section of nova.conf."""

from oslo_config import cfg

CONF = cfg.CONF

docker_group = cfg.OptGroup(
    'docker',
    title='Docker driver options',
    help='Options for nova-docker, the compute driver that runs instances '
         'as Docker containers (compute_driver = novadocker.DockerDriver).')

engine_opts = [
    cfg.StrOpt('api_url',
               default='unix:///var/run/docker.sock',
               help='URL of the Docker Engine API: unix:///path/to/socket '
                    'or tcp://host:port. The API version is negotiated '
                    'with the engine.'),
    cfg.IntOpt('api_timeout',
               default=120, min=1,
               help='Seconds to wait for an answer from the engine.'),
    cfg.BoolOpt('tls',
                default=False,
                help='Use TLS to reach a tcp:// engine.'),
    cfg.StrOpt('tls_ca_cert',
               help='CA certificate that signs the engine\'s certificate. '
                    'Setting it turns on verification of the engine.'),
    cfg.StrOpt('tls_client_cert',
               help='Client certificate presented to the engine.'),
    cfg.StrOpt('tls_client_key',
               help='Key of the client certificate.'),
]

container_opts = [
    cfg.IntOpt('pids_limit',
               default=4096, min=-1,
               help='Largest number of processes a container may run; '
                    '-1 for no limit.'),
    cfg.IntOpt('cpu_period_us',
               default=100000, min=1000, max=1000000,
               help='CFS period, in microseconds, for CPU limits. A '
                    'container may use vCPUs x this much CPU time per period '
                    'unless the flavor sets quota:cpu_period/cpu_quota.'),
    cfg.IntOpt('cpu_shares_per_vcpu',
               default=1024, min=2,
               help='CPU shares given per vCPU, so that under contention '
                    'CPU time is split in proportion to flavor vCPUs.'),
    cfg.StrOpt('log_max_size',
               default='1m',
               help='Largest size of a container\'s log (json-file driver) '
                    'before it is rotated; the console log is read from '
                    'it.'),
    cfg.FloatOpt('spawn_settle_seconds',
                 default=0.01, min=0.0,
                 help='How long spawn watches a freshly started workload. '
                      'One that has exited by then fails the spawn with its '
                      'exit code and last output, instead of becoming an '
                      'ACTIVE server that is already dead.'),
    cfg.ListOpt('flavor_capabilities',
                default=['NET_RAW', 'MKNOD', 'SETFCAP', 'SETPCAP',
                         'AUDIT_WRITE'],
                help='Capabilities a flavor may add with the extra spec '
                     'docker:cap_add (e.g. "NET_RAW" for images whose ping '
                     'needs raw sockets). Containers otherwise keep only '
                     'CHOWN, DAC_OVERRIDE, FOWNER, FSETID, KILL, SETGID, '
                     'SETUID, NET_BIND_SERVICE and SYS_CHROOT. Image '
                     'properties can never add capabilities.'),
    cfg.StrOpt('root_disk_unenforced',
               default='warn', choices=['warn', 'refuse'],
               help='What to do with a flavor that has a root disk size '
                    'when the engine\'s storage driver cannot enforce one '
                    '(overlay2 on ext4, say): warn (log once, run without '
                    'a limit) or refuse the build with a fault.'),
    cfg.FloatOpt('state_cache_seconds',
                 default=5.0, min=0.0,
                 help='How long one listing of this host\'s containers '
                      'serves the periodic power-state sync. Nova asks '
                      'for fresh state after its own operations.'),
    cfg.FloatOpt('stopped_event_delay',
                 default=1.0, min=0.0,
                 help='Seconds a "stopped" lifecycle event waits before it '
                      'reaches Nova; a start of the same container meanwhile '
                      '(a restart) cancels it, so that a restart never makes '
                      'Nova stop the server (as the libvirt driver delays '
                      'its STOPPED events).'),
    cfg.FloatOpt('engine_watch_seconds',
                 default=2.0, min=0.0,
                 help='How often a background thread asks whether the '
                      'engine restarted (its process changed, or it stopped '
                      'answering and came back). After a restart every '
                      'server Nova has ACTIVE or PAUSED is brought back: '
                      'infra container started, ports plugged again, '
                      'workload started (and paused). 0 turns this off.'),
]

image_opts = [
    cfg.ListOpt('allowed_registries',
                default=[],
                help='Registries (host[:port]) this host may pull from when '
                     'a Glance image names a registry image in its '
                     'docker_image property instead of holding an archive. '
                     'Empty (the default) refuses such images; "*" allows '
                     'any registry; Docker Hub is "docker.io". The '
                     'repositories of the driver\'s own images (nova-glance, '
                     'nova-snapshot, nova-docker) can never be pulled.'),
    cfg.StrOpt('registry_auth_file',
               help='Credentials for pulls of docker_image references: a '
                    'file in the format of Docker\'s config.json ({"auths": '
                    '{"host:port": {"auth": base64 of user:password}}}). '
                    'Registries not in it are pulled from anonymously; the '
                    'Docker configuration of the user nova-compute runs as '
                    'is never used.'),
    cfg.IntOpt('image_max_files',
               default=10000, min=1,
               help='Largest number of files a Glance image\'s docker save '
                    'archive may hold (read before loading; each costs '
                    'nova-compute memory while the archive is checked).'),
    cfg.IntOpt('image_max_json_bytes',
               default=4 * 1024 * 1024, min=1024,
               help='Largest manifest.json or image config JSON read from '
                    'an archive, in bytes.'),
    cfg.IntOpt('image_max_mb',
               default=20 * 1024, min=1,
               help='Largest size of an archive once decompressed, in MiB '
                    '(a compressed archive may expand far beyond its '
                    'download).'),
    cfg.StrOpt('image_staging_dir',
               help='Directory that holds a Glance download while it is '
                    'checked and loaded into the engine (one file per '
                    'download, removed afterwards). Defaults to the '
                    'system temporary directory.'),
]

network_opts = [
    cfg.StrOpt('infra_binary',
               default='/usr/bin/catatonit',
               help='Static pause binary (Debian: package catatonit) from '
                    'which init_host builds the infra image when the engine '
                    'lacks it. Each instance gets an infra container running '
                    'it as "/pause -P"; it owns the instance\'s network '
                    'namespace, so NICs exist before the workload starts and '
                    'survive its restarts. The image is made on this host, '
                    'never pulled.'),
    cfg.StrOpt('infra_image',
               help='Use this image, already in the engine, for infra '
                    'containers instead of building one from infra_binary. '
                    'Its entrypoint must wait for SIGTERM without exiting.'),
]

guest_opts = [
    cfg.BoolOpt('run_user_data',
                default=False,
                help='Run a user-data script (user data starting with #!) '
                     'once, as root, at a server\'s first boot, for images '
                     'without cloud-init (its output goes to '
                     '/var/lib/nova-docker/user-data.log in the container). '
                     'Off by default: the script is then only offered on '
                     'the config drive, for cloud-init to run.'),
]

console_opts = [
    cfg.StrOpt('serial_console_command',
               default='/bin/sh',
               help='What a serial console connection runs in the server\'s '
                    'container, on a terminal of its own, as the image\'s '
                    'user (split like a shell would). Each connection gets '
                    'its own process, which ends when the connection does. '
                    'Used when [serial_console] enabled is on.'),
]

ALL_OPTS = (engine_opts + container_opts + image_opts + network_opts +
            guest_opts + console_opts)


def register_opts(conf=CONF):
    conf.register_group(docker_group)
    conf.register_opts(ALL_OPTS, group=docker_group)


def list_opts():
    # The privsep contexts' own sections ([nova_docker_privileged]:
    # helper_command, capabilities, ...), registered by oslo.privsep.
    from oslo_privsep import priv_context
    return [(docker_group, ALL_OPTS),
            ('nova_docker_privileged', priv_context.OPTS),
            ('nova_docker_fs_privileged', priv_context.OPTS)]


register_opts()
