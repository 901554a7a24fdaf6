"""The OpenStack services: how each one starts and how to tell it is up."""

import os
import typing

from nova_docker.aio import bootstrap
from nova_docker.aio import configs
from nova_docker.aio import layout as layout_mod
from nova_docker.aio import network
from nova_docker.aio.progress import Failed, wait_for
from nova_docker.aio import rest
from nova_docker.aio import services
from nova_docker.aio import single_process
from nova_docker.aio import system


class Api(typing.NamedTuple):
    """An OpenStack API that runs as a WSGI app under gunicorn: one worker
    process, four threads."""
    name: str  # the service: its pid file and log
    factory: str  # the WSGI factory in nova_docker.aio.wsgi
    port: str  # its key in Layout.ports


# Keystone first: the others register with it. One worker for keystone
# too: two workers forked from a preloaded application held 232 MiB PSS
# idle and 283 MiB after a tempest run (the garbage collector touches every
# object it imported, and each worker then holds its own copy of the
# pages), one worker with its own import far less (see README).
APIS = (
    Api('keystone', factory='keystone', port='keystone'),
    Api('glance-api', factory='glance', port='glance'),
    Api('placement-api', factory='placement', port='placement'),
    Api('neutron-api', factory='neutron', port='neutron'),
    Api('nova-api', factory='nova', port='nova'),
    Api('heat-api', factory='heat', port='heat'),
)
API_NAMES = tuple(api.name for api in APIS)
NOVA_DAEMONS = ('nova-conductor', 'nova-scheduler', 'nova-compute')
# Websockets to servers' serial consoles (not a service Nova lists).
SERIAL_PROXY = 'nova-serialproxy'
# The networked cloud's Neutron: the RPC server the agent talks to (and
# which tells Nova a port is wired), and the agent itself.
NEUTRON_DAEMONS = ('neutron-rpc-server', 'neutron-openvswitch-agent')
# Orchestration (up --no-heat leaves it out).
HEAT = ('heat-api', 'heat-engine')
BACKING = ('dockerd', 'mariadb', 'epmd', 'rabbitmq')
# Start order; ``down`` goes the other way.
ALL = (BACKING + API_NAMES + NEUTRON_DAEMONS + NOVA_DAEMONS
       + (SERIAL_PROXY, 'heat-engine'))


def services_of(layout):
    """The services this all-in-one runs, in start order."""
    return tuple(name for name in ALL
                 if (layout.networked or name not in NEUTRON_DAEMONS)
                 and (layout.heat or name not in HEAT))


def _api(name):
    return next(api for api in APIS if api.name == name)


def check_port_free(layout, name, port):
    """Fail clearly when something not ours already holds a port."""
    if not services.read_pid(layout.pidfile(name)) and (
            layout_mod.port_open(port)):
        raise Failed('%s: port %d is taken by another process (another '
                     'cloud?): stop it, or choose other ports with '
                     'up --port-offset N' % (name, port))


def start_api(layout, name):
    api = _api(name)
    check_port_free(layout, name, layout.ports[api.port])
    argv = [layout.bin('gunicorn'),
            '--bind', '127.0.0.1:%d' % layout.ports[api.port],
            '--workers', '1', '--threads', '4',
            '--timeout', '300', '--graceful-timeout', '5',
            # No keep-alive: a client reusing a pooled connection just as
            # gunicorn closes it idle gets "connection reset" (seen as a
            # Placement ConnectFailure that put a deleted server in ERROR).
            '--keep-alive', '0',
            '--name', 'aio-' + name,
            'nova_docker.aio.wsgi:%s()' % api.factory]
    return services.start(layout, name, argv, env=configs.service_env(layout))


def api_healthy(layout, name):
    status = rest.http_status(layout.url(_api(name).port, '/'))
    return status is not None and status < 500


def wait_api(layout, name, timeout=120):
    pid = services.read_pid(layout.pidfile(name))
    wait_for(lambda: api_healthy(layout, name), timeout, name,
             layout.log(name), alive=lambda: services.read_pid(
                 layout.pidfile(name)) == pid)


def daemon_command(layout, name):
    """How to run a daemon's console script: a one-worker oslo.service
    daemon in one process (see single_process)."""
    if name in single_process.DAEMONS:
        return [layout.bin('python'), '-m', 'nova_docker.aio.single_process',
                name]
    return [layout.bin(name)]


def start_nova_daemon(layout, name):
    nova_conf = (configs.NOVA_COMPUTE_CONF if name == 'nova-compute'
                 else 'nova.conf')
    argv = daemon_command(layout, name) + [
        '--config-file', configs.conf(layout, 'nova', nova_conf)]
    return services.start(layout, name, argv, env=configs.service_env(layout))


def start_serial_proxy(layout):
    """Its port now, nova-serialproxy itself when a client first connects
    (see on_demand)."""
    port = layout.ports['serialproxy']
    check_port_free(layout, SERIAL_PROXY, port)
    argv = [layout.bin('python'), '-m', 'nova_docker.aio.on_demand',
            '127.0.0.1', str(port),
            '--config-file', configs.conf(layout, 'nova', 'nova.conf')]
    return services.start(layout, SERIAL_PROXY, argv,
                          env=configs.service_env(layout))


def serial_proxy_listens(layout):
    return layout_mod.port_listens(layout.ports['serialproxy'])


def start_neutron_daemon(layout, name):
    files = {'neutron-rpc-server': configs.ML2_CONF,
             'neutron-openvswitch-agent': configs.OVS_AGENT_CONF}
    argv = daemon_command(layout, name) + [
        '--config-file', configs.conf(layout, 'neutron'),
        '--config-file', configs.conf(layout, 'neutron', files[name])]
    return services.start(layout, name, argv, env=configs.service_env(layout))


def start_heat_engine(layout):
    argv = daemon_command(layout, 'heat-engine') + [
        '--config-file', configs.conf(layout, 'heat')]
    return services.start(layout, 'heat-engine', argv,
                          env=configs.service_env(layout))


def heat_engine_answers(layout):
    """heat-api hands build_info to an engine over RPC: an answer means an
    engine listens."""
    c = bootstrap.admin_client(layout)
    c.call('GET', c.endpoint('orchestration') + '/build_info', timeout=10)
    return True


def health(layout):
    """{service: (pid or None, healthy, detail)} for ``status``."""
    result = {}
    for name in services_of(layout):
        pid = services.read_pid(layout.pidfile(name))
        result[name] = [pid, bool(pid), '']
    if not result['dockerd'][0]:
        result['dockerd'] = [None, system.docker_answers(),
                             'shared engine, not started by up']
    result['mariadb'][1] = (result['mariadb'][1]
                            and os.path.exists(layout.db_socket))
    result['rabbitmq'][1] = (result['rabbitmq'][1] and layout_mod.port_open(
        layout.ports['rabbitmq']))
    result[SERIAL_PROXY][1] = (result[SERIAL_PROXY][1]
                               and serial_proxy_listens(layout))
    if not result['epmd'][0]:
        result['epmd'] = [None, layout_mod.port_open(4369),
                          'shared, not started by up']
    for name in API_NAMES:
        if name in result:
            result[name][1] = result[name][1] and api_healthy(layout, name)
    if layout.heat:
        _heat_engine(layout, result)
    _nova_services(layout, result)
    if layout.networked:
        _ovs_agent(layout, result)
    return result


def _ovs_agent(layout, result):
    """Neutron's view of the agent, and the switch it programs."""
    name = 'neutron-openvswitch-agent'
    try:
        alive = network.agent_alive(bootstrap.admin_client(layout),
                                    layout.compute_host)
    except Exception as e:  # noqa: B902 - status reports, it never fails
        result[name][2] = 'Neutron API unreachable: %s' % e
    else:
        result[name][1] = result[name][1] and alive
        result[name][2] = 'neutron: %s' % ('alive' if alive else 'down')
    if not network.ovs_answers():
        result[name][1] = False
        result[name][2] += '; Open vSwitch does not answer'


def _heat_engine(layout, result):
    try:
        heat_engine_answers(layout)
    except Exception as e:  # noqa: B902 - status reports, it never fails
        result['heat-engine'][1] = False
        result['heat-engine'][2] = 'build_info through heat-api: %s' % e
    else:
        result['heat-engine'][2] = 'answers heat-api'


def _nova_services(layout, result):
    """Nova's own view of its daemons (their heartbeats)."""
    try:
        c = bootstrap.admin_client(layout)
        listed = c.call('GET', c.endpoint('compute') + '/os-services')
    except Exception as e:  # noqa: B902 - status reports, it never fails
        for name in NOVA_DAEMONS:
            result[name][2] = 'Nova API unreachable: %s' % e
        return
    for svc in listed['services']:
        name = svc['binary']
        # Other compute hosts (dockerhost, kvm) have rows of their own.
        if name == 'nova-compute' and svc['host'] != layout.compute_host:
            continue
        if name in result:
            up = svc['state'] == 'up' and svc['status'] == 'enabled'
            result[name][1] = result[name][1] and up
            result[name][2] = 'nova: %s, %s' % (svc['state'],
                                                svc['status'])
