"""Every service's configuration, written under ``<state>/etc``.

Rewritten on each ``up`` from the layout (ports, secrets, paths), so the
files always match the state directory they live in.
"""

import configparser
import os
import shutil

from nova_docker.aio.layout import REGION
from nova_docker.aio import venv
from nova_docker.aio import network
from nova_docker.aio import podman

# The host's Open vSwitch, shared like the Docker engine.
OVSDB = 'unix:/var/run/openvswitch/db.sock'
INTEGRATION_BRIDGE = 'br-int'
# Config files beside <service>.conf under <state>/etc/<service>/.
NOVA_COMPUTE_CONF = 'nova-compute.conf'
ML2_CONF = 'plugins/ml2/ml2_conf.ini'
OVS_AGENT_CONF = 'plugins/ml2/openvswitch_agent.ini'


def mixed_cloud_scheduler():
    """The scheduler options the devstack plugin also writes (one file in
    etc/): each image to the kind of host that runs it."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(os.path.join(venv.project_root(), 'etc',
                             'nova-docker-scheduler.conf'))
    return {name: dict(parser[name]) for name in parser.sections()}


def render(sections):
    out = []
    for name, options in sections.items():
        out.append('[%s]' % name)
        out.extend('%s = %s' % (k, v) for k, v in options.items())
        out.append('')
    return '\n'.join(out)


def write(path, sections):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, 'w') as f:
        f.write(render(sections))


def _password_auth(layout, user):
    """keystoneauth options for a service user of the ``service`` project."""
    return {
        'auth_type': 'password',
        'auth_url': layout.url('keystone', '/v3'),
        'project_domain_name': 'Default',
        'user_domain_name': 'Default',
        'project_name': 'service',
        'username': user,
        'password': layout.secret(user),
        'region_name': REGION,
    }


def _authtoken(layout, user):
    return dict(_password_auth(layout, user),
                www_authenticate_uri=layout.url('keystone', '/v3'),
                # Tokens are cached in each process; no memcached here.
                service_token_roles_required='True')


def keystone(layout):
    keys = layout.path('keystone')
    return {
        'database': {'connection': layout.db_url('keystone')},
        'token': {'provider': 'fernet'},
        'fernet_tokens': {'key_repository': os.path.join(keys, 'fernet')},
        'credential': {'key_repository': os.path.join(keys, 'credential')},
    }


def glance(layout):
    store = layout.path('glance')
    return {
        'DEFAULT': {
            'enabled_backends': 'fs:file',
            'worker_self_reference_url': layout.url('glance'),
        },
        'glance_store': {'default_backend': 'fs'},
        'fs': {'filesystem_store_datadir': os.path.join(store, 'images')},
        'os_glance_staging_store': {
            'filesystem_store_datadir': os.path.join(store, 'staging')},
        'os_glance_tasks_store': {
            'filesystem_store_datadir': os.path.join(store, 'tasks')},
        'database': {'connection': layout.db_url('glance')},
        'keystone_authtoken': _authtoken(layout, 'glance'),
        'paste_deploy': {'flavor': 'keystone'},
        'oslo_concurrency': {'lock_path': os.path.join(store, 'lock')},
    }


def placement(layout):
    return {
        'placement_database': {'connection': layout.db_url('placement')},
        'api': {'auth_strategy': 'keystone'},
        'keystone_authtoken': _authtoken(layout, 'placement'),
    }


def nova(layout):
    state = layout.path('nova')
    return {
        'DEFAULT': {
            'host': layout.compute_host,
            'my_ip': '127.0.0.1',
            'compute_driver': 'novadocker.DockerDriver',
            # Nova keeps the compute node's uuid in <state_path>/compute_id:
            # the node stays the same across nova-compute restarts.
            'state_path': state,
            'instances_path': os.path.join(state, 'instances'),
            'transport_url': layout.transport_url,
            'enabled_apis': 'osapi_compute',
            # Containers are light: let a 2-core host take a few dozen
            # small servers (the benchmark boots 15 at once).
            'initial_cpu_allocation_ratio': '16.0',
            # One compute host: a resize stays on it (as devstack sets).
            'allow_resize_to_same_host': 'True',
        },
        'api': {'auth_strategy': 'keystone'},
        'wsgi': {'api_paste_config': os.path.join(layout.etc, 'nova',
                                                  'api-paste.ini')},
        'api_database': {'connection': layout.db_url('nova_api')},
        'database': {'connection': layout.db_url('nova')},
        'keystone_authtoken': _authtoken(layout, 'nova'),
        # Neutron's policy lets only a holder of the service role delete
        # the ports Nova made on a user's behalf.
        'service_user': dict(_password_auth(layout, 'nova'),
                             send_service_user_token='True'),
        'placement': _password_auth(layout, 'nova'),
        'neutron': _password_auth(layout, 'neutron'),
        'glance': {'region_name': REGION},
        'cinder': {'os_region_name': REGION},
        'scheduler': dict(mixed_cloud_scheduler()['scheduler'], workers='1',
                          # ``up`` maps the compute hosts itself.
                          discover_hosts_in_cells_interval='-1'),
        'filter_scheduler': dict(
            mixed_cloud_scheduler()['filter_scheduler'],
            **_scheduling(layout)),
        'conductor': {'workers': '1'},
        'quota': {'instances': '100', 'cores': '400', 'ram': '1024000'},
        'vnc': {'enabled': 'False'},
        # nova-serialproxy on loopback; nova-compute's console endpoints
        # too (ports of Nova's default range), reached only by the proxy.
        'serial_console': {
            'enabled': 'True',
            'base_url': 'ws://127.0.0.1:%d/' % layout.ports['serialproxy'],
            'serialproxy_host': '127.0.0.1',
            'serialproxy_port': str(layout.ports['serialproxy']),
            'proxyclient_address': '127.0.0.1',
        },
        'oslo_concurrency': {'lock_path': os.path.join(state, 'lock')},
        'docker': {'api_url': podman.engine_url(layout)},
        # os-vif adds ports to br-int through the local OVSDB socket (no
        # manager port to open); its root work and the driver's go through
        # privsep helpers started straight from the venv (we are root:
        # no sudo, no rootwrap).
        'os_vif_ovs': {'ovsdb_connection': OVSDB},
        'vif_plug_ovs_privileged': {
            'helper_command': _privsep_helper(layout, NOVA_COMPUTE_CONF)},
        'nova_docker_privileged': {
            'helper_command': _privsep_helper(layout, NOVA_COMPUTE_CONF)},
        'nova_docker_fs_privileged': {
            'helper_command': _privsep_helper(layout, NOVA_COMPUTE_CONF)},
    }


def _scheduling(layout):
    """With more than one compute host, new servers go to the first one
    (where the tests that look at one host look) while it has more free
    memory than the others, which reserve some (dockerhost): free memory is
    the only weigher. A migration still goes to another host."""
    if layout.computes < 2:
        return {}
    return {'weight_classes': 'nova.scheduler.weights.ram.RAMWeigher'}


def nova_compute(layout):
    """nova.conf without database credentials, as on any compute host:
    nova-compute reaches the database through the conductor only (with
    them, it tries the database itself and logs "No DB access allowed")."""
    return {section: options for section, options in nova(layout).items()
            if section not in ('database', 'api_database')}


def neutron(layout):
    state = layout.path('neutron')
    return {
        'DEFAULT': {
            'core_plugin': 'ml2',
            'service_plugins': '',
            'auth_strategy': 'keystone',
            'transport_url': layout.transport_url,
            'state_path': state,
            # Nova waits for network-vif-plugged once the agent has wired a
            # port; without agents there is nothing to tell it.
            'notify_nova_on_port_status_changes': str(layout.networked),
            'notify_nova_on_port_data_changes': str(layout.networked),
            # One RPC worker process (it also takes the agent's state
            # reports): enough for one agent, and memory matters here.
            'rpc_workers': '1',
            'rpc_state_report_workers': '0',
            # Nova waits for these events before a server goes ACTIVE:
            # batch them for 1 s, not 2.
            'send_events_interval': '1',
        },
        'database': {'connection': layout.db_url('neutron')},
        'keystone_authtoken': _authtoken(layout, 'neutron'),
        'nova': _password_auth(layout, 'neutron'),
        'oslo_concurrency': {'lock_path': os.path.join(state, 'lock')},
    }


def ml2(layout):
    if not layout.networked:
        # No mechanism driver: ports are never bound, which is all that
        # servers booted with ``--nic none`` need (Nova still asks Neutron
        # about ports and security groups for every server).
        return {'ml2': {'type_drivers': 'flat,vlan',
                        'tenant_network_types': '',
                        'mechanism_drivers': '', 'extension_drivers': ''}}
    # Project networks are VXLAN, as devstack makes them: on one host the
    # traffic never leaves br-int, and a second host could join over
    # tunnels.
    # ``private`` is flat on the ``aio`` physical network, which spans
    # every compute host of the all-in-one (network.py).
    return {
        'ml2': {'type_drivers': 'flat,vlan,vxlan',
                'tenant_network_types': 'vxlan',
                'mechanism_drivers': 'openvswitch',
                'extension_drivers': 'port_security'},
        'ml2_type_vxlan': {'vni_ranges': '1:1000'},
        'ml2_type_flat': {'flat_networks': network.PHYSNET},
    }


def openvswitch_agent(layout):
    """neutron-openvswitch-agent on the host's Open vSwitch.

    The kernel has no openvswitch module to rely on: every bridge the agent
    makes uses the userspace (netdev) datapath, which takes the driver's
    veth ends as ordinary system ports.
    """
    return {
        # Ports are bound to the agent of the host Nova names: ours.
        'DEFAULT': {'host': layout.compute_host},
        'ovs': {
            'integration_bridge': INTEGRATION_BRIDGE,
            'tunnel_bridge': 'br-tun',
            'local_ip': '127.0.0.1',
            'datapath_type': 'netdev',
            'ovsdb_connection': OVSDB,
            'of_listen_address': '127.0.0.1',
            'of_listen_port': str(layout.ports['openflow']),
            'bridge_mappings': '%s:%s' % (network.PHYSNET,
                                          network.PHYS_BRIDGE),
        },
        'agent': {
            'tunnel_types': 'vxlan',
            # The agent learns of new ports from an OVSDB monitor; its loop
            # then wires them at the next tick: 1 s, not 2.
            'polling_interval': '1',
            # We run as root: privileged commands and privsep helpers run
            # as they are (``env`` only finds them on PATH), never sudo.
            'root_helper': 'env',
        },
        # Security groups as OpenFlow rules with conntrack, which the
        # userspace datapath has; no hybrid Linux bridge per port.
        'securitygroup': {'firewall_driver': 'openvswitch'},
    }


def heat(layout):
    """heat-api and heat-engine. Stacks act for their owner through a
    Keystone trust to the heat service user (Heat's default), so the engine
    can still create a stack's servers when the owner's token has expired.
    """
    state = layout.path('heat')
    return {
        'DEFAULT': {
            'transport_url': layout.transport_url,
            'region_name_for_services': REGION,
            # One engine process: memory matters on this host.
            'num_engine_workers': '1',
            'deferred_auth_method': 'trusts',
        },
        'database': {'connection': layout.db_url('heat')},
        'keystone_authtoken': _authtoken(layout, 'heat'),
        'trustee': {k: v for k, v in _password_auth(layout, 'heat').items()
                    if k not in ('project_domain_name', 'project_name',
                                 'region_name')},
        'clients_keystone': {'auth_uri': layout.url('keystone')},
        'paste_deploy': {'api_paste_config': conf(layout, 'heat',
                                                  'api-paste.ini')},
        'oslo_concurrency': {'lock_path': os.path.join(state, 'lock')},
    }


def write_all(layout):
    etc, venv_etc = layout.etc, os.path.join(layout.venv, 'etc')
    write(os.path.join(etc, 'keystone', 'keystone.conf'), keystone(layout))
    write(os.path.join(etc, 'glance', 'glance-api.conf'), glance(layout))
    write(os.path.join(etc, 'placement', 'placement.conf'),
          placement(layout))
    write(os.path.join(etc, 'nova', 'nova.conf'), nova(layout))
    write(conf(layout, 'nova', NOVA_COMPUTE_CONF), nova_compute(layout))
    # For nova-manage only: syncs the cell0 database in its own process.
    write(os.path.join(etc, 'nova', 'nova-cell0.conf'),
          {'database': {'connection': layout.db_url('nova_cell0')}})
    write(os.path.join(etc, 'neutron', 'neutron.conf'), neutron(layout))
    write(conf(layout, 'neutron', ML2_CONF), ml2(layout))
    write(conf(layout, 'neutron', OVS_AGENT_CONF), openvswitch_agent(layout))
    write(conf(layout, 'heat'), heat(layout))
    # The paste pipelines ship with the wheels; the services look for them
    # beside their config.
    for service, name in (('glance', 'glance-api-paste.ini'),
                          ('nova', 'api-paste.ini'),
                          ('neutron', 'api-paste.ini'),
                          ('heat', 'api-paste.ini')):
        shutil.copy(os.path.join(venv_etc, service, name),
                    os.path.join(etc, service, name))
    for d in ('glance/images', 'glance/staging', 'glance/tasks',
              'nova/instances', 'neutron', 'heat'):
        os.makedirs(layout.path(*d.split('/')), exist_ok=True)


def service_env(layout):
    """Where each service finds its config (read by their WSGI modules)."""
    etc = layout.etc
    return {
        'OS_KEYSTONE_CONFIG_FILES': os.path.join(etc, 'keystone',
                                                 'keystone.conf'),
        'OS_GLANCE_CONFIG_DIR': os.path.join(etc, 'glance'),
        'OS_PLACEMENT_CONFIG_DIR': os.path.join(etc, 'placement'),
        'OS_NOVA_CONFIG_DIR': os.path.join(etc, 'nova'),
        'OS_NEUTRON_CONFIG_DIR': os.path.join(etc, 'neutron'),
        'OS_HEAT_CONFIG_FILE': conf(layout, 'heat'),
        # glibc gives threads that allocate at once arenas of their own (up
        # to 8 per core) and half-empty ones stay resident; every service
        # here runs Python threads, which allocate under the GIL, one at a
        # time anyway: one arena per process.
        'MALLOC_ARENA_MAX': '1',
        # glibc raises its mmap threshold to the largest block freed (up to
        # 32 MiB) and keeps up to twice that unreturned at the heap's top:
        # after one large response a service kept such blocks resident for
        # good. Fixed at glibc's initial 128 KiB: large blocks are mapped
        # and unmapped, and a free heap top is given back.
        'MALLOC_MMAP_THRESHOLD_': '131072',
        'MALLOC_TRIM_THRESHOLD_': '131072',
        'PATH': os.path.join(layout.venv, 'bin') + ':' + os.environ.get(
            'PATH', '/usr/sbin:/usr/bin:/sbin:/bin'),
    }


def _privsep_helper(layout, nova_conf):
    """oslo.privsep appends the context and socket arguments."""
    return '%s --config-file %s' % (layout.bin('privsep-helper'),
                                    conf(layout, 'nova', nova_conf))


def conf(layout, service, name=None):
    return os.path.join(layout.etc, service, name or service + '.conf')
