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
# Services a listener of a few MiB stands in for until their first client
# connects (see on_demand): the key of their port in Layout.ports. heat-api
# starts heat-engine then.
ON_DEMAND = {SERIAL_PROXY: 'serialproxy', 'heat-api': 'heat'}
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


def api_command(layout, name, bind):
    """gunicorn serving the API on ``bind`` (HOST:PORT, or fd://N for a
    socket it inherits)."""
    return [layout.bin('gunicorn'), '--bind', bind,
            '--workers', '1', '--threads', '4',
            '--timeout', '300', '--graceful-timeout', '5',
            # No keep-alive: a client reusing a pooled connection just as
            # gunicorn closes it idle gets "connection reset" (seen as a
            # Placement ConnectFailure that put a deleted server in ERROR).
            '--keep-alive', '0',
            '--name', 'aio-' + name,
            'nova_docker.aio.wsgi:%s()' % _api(name).factory]


def start_api(layout, name):
    port = layout.ports[_api(name).port]
    check_port_free(layout, name, port)
    return services.start(layout, name,
                          api_command(layout, name, '127.0.0.1:%d' % port),
                          env=configs.service_env(layout))


def log_of(layout, name):
    """Where a service logs (one that runs in another's process logs
    there)."""
    return layout.log(single_process.BESIDE.get(name, name))


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
    if name in single_process.BESIDE:
        return services.share(layout, name, single_process.BESIDE[name])
    nova_conf = (configs.NOVA_COMPUTE_CONF if name == 'nova-compute'
                 else 'nova.conf')
    argv = daemon_command(layout, name) + [
        '--config-file', configs.conf(layout, 'nova', nova_conf)]
    return services.start(layout, name, argv, env=configs.service_env(layout))


def start_on_demand(layout, name, args):
    """A listener on the service's port now, the service itself when a
    client first connects (see on_demand)."""
    port = layout.ports[ON_DEMAND[name]]
    check_port_free(layout, name, port)
    argv = [layout.bin('python'), '-m', 'nova_docker.aio.on_demand',
            '127.0.0.1', str(port), name] + args
    return services.start(layout, name, argv,
                          env=configs.service_env(layout))


def start_serial_proxy(layout):
    return start_on_demand(layout, SERIAL_PROXY, [
        '--config-file', configs.conf(layout, 'nova', 'nova.conf')])


def start_heat_api(layout):
    return start_on_demand(layout, 'heat-api', [layout.root])


def on_demand_listens(layout, name):
    """The listener, or the service it became, holds the port (seen without
    connecting, which would start the service)."""
    return layout_mod.port_listens(layout.ports[ON_DEMAND[name]])


def waits_for_first_client(layout, name):
    """The on-demand service is still its listener (see start_on_demand's
    command; nova-serialproxy runs as on_demand's ``serve``)."""
    pid = services.read_pid(layout.pidfile(name))
    try:
        with open('/proc/%d/cmdline' % pid, 'rb') as f:
            argv = f.read().split(b'\0')
    except (OSError, TypeError):
        return False
    return (argv[1:3] == [b'-m', b'nova_docker.aio.on_demand']
            and argv[3] != b'serve')


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


def heat_engine_runs(layout):
    return bool(services.read_pid(layout.pidfile('heat-engine')))


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
    if not result['epmd'][0]:
        result['epmd'] = [None, layout_mod.port_open(4369),
                          'shared, not started by up']
    for name in API_NAMES:
        if name in result and name not in ON_DEMAND:
            result[name][1] = result[name][1] and api_healthy(layout, name)
    for name in ON_DEMAND:
        if name in result:
            result[name][1] = (result[name][1]
                               and on_demand_listens(layout, name))
            if waits_for_first_client(layout, name):
                result[name][2] = 'starts with its first client'
    if layout.heat:
        _heat_engine(layout, result)
    _nova_services(layout, result)
    for name, host in single_process.BESIDE.items():
        result[name][2] += " (in %s's process)" % host
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
    if waits_for_first_client(layout, 'heat-api'):
        result['heat-engine'][1] = result['heat-api'][1]
        result['heat-engine'][2] = "starts with heat-api's first request"
        return
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
