"""nova-docker-aio up|install|down|status|logs|tempest: the all-in-one
cloud.

Run as root on Debian 12: ``python3 -m nova_docker.aio up`` from a checkout
(standard library only until the venv exists), or ``nova-docker-aio`` once
installed.
"""

import argparse
import concurrent.futures
import configparser
import functools
import os
import subprocess
import sys
import time

from nova_docker.aio import bootstrap
from nova_docker.aio import cloud
from nova_docker.aio import configs
from nova_docker.aio import dockerhost
from nova_docker.aio import images
from nova_docker.aio import kvm
from nova_docker.aio import layout as layout_mod
from nova_docker.aio import network
from nova_docker.aio import podman
from nova_docker.aio.progress import Failed, Progress, wait_for
from nova_docker.aio import services
from nova_docker.aio import system
from nova_docker.aio import tempest
from nova_docker.aio import userenv
from nova_docker.aio import venv
from nova_docker.aio import vm_image

# Two servers, ports and a security group (needs the networked cloud).
HEAT_SAMPLE = 'examples/heat/two-servers.yaml'


def up(layout, args):
    """Bring the cloud up, step by step; every step is safe to re-run."""
    bringup = Bringup(layout, Progress())
    bringup.refuse_engine_switch_while_running()
    layout.ensure_dirs()
    layout.save_settings()
    bringup.p.say('state directory %s (logs in %s)'
                  % (layout.root, layout.logs))
    bringup.install_packages(args.python)
    bringup.start_engine_and_switch()
    bringup.start_backing_services(args.python)
    bringup.start_apis()
    bringup.start_daemons()
    bringup.wait_compute_hosts()
    bringup.create_resources()
    bringup.wait_extras()
    return bringup.finish()


def install(layout, args):
    """What ``up`` and ``tempest`` install, and nothing started: the test
    command has it done while its first suites run."""
    bringup = Bringup(layout, Progress())
    layout.save_settings()
    bringup.install_packages(args.python)
    bringup.install_venv(args.python)
    with bringup.p.step('tempest venv'):
        tempest.ensure_installed(layout, args.python)
    bringup.p.say('installed; nothing started')
    return 0


class Bringup:
    """The steps of ``up``, in order, and what they hand each other: work
    started in the background (the image archive, RabbitMQ) and the second
    compute host."""

    def __init__(self, layout, progress):
        self.layout = layout
        self.p = progress
        self.pool = concurrent.futures.ThreadPoolExecutor(2)
        self.busybox = None
        self.archive = None
        self.rabbit = None
        self.second = _second_host(layout)
        self.daemons_started = None

    def refuse_engine_switch_while_running(self):
        """A running nova-compute keeps the engine it started with (``up``
        leaves running services alone): switching needs ``down`` first."""
        layout = self.layout
        if not services.read_pid(layout.pidfile('nova-compute')):
            return
        running = configparser.ConfigParser(interpolation=None)
        running.read(configs.conf(layout, 'nova', configs.NOVA_COMPUTE_CONF))
        url = running.get('docker', 'api_url', fallback=None)
        if url and url != podman.engine_url(layout):
            raise Failed('nova-compute runs with the engine at %s: run '
                         '"down" first to switch it to %s (up --engine %s)'
                         % (url, podman.engine_url(layout), layout.engine))

    def install_packages(self, python):
        missing = system.missing_packages(python, self.layout.networked)
        if self.layout.kvm:
            missing += kvm.missing_packages()
        if self.layout.engine == 'podman':
            missing += [name for name in podman.missing_packages()
                        if name not in missing]
        if missing:
            with self.p.step('installing Debian packages: '
                             + ' '.join(missing)):
                system.install_packages(missing, self.layout.log('apt'))

    def install_venv(self, python):
        with self.p.step('venv %s (first run: a few minutes of pip)'
                         % self.layout.venv):
            venv.ensure_services(self.layout, python)
        with self.p.step('nova-docker into the venv'):
            venv.ensure_project(self.layout)

    def start_engine_and_switch(self):
        layout, p = self.layout, self.p
        with p.step('Docker engine'):
            if system.ensure_docker(layout):
                p.out.write('(started dockerd) ')
        if layout.engine == 'podman':
            with p.step('Podman engine for %s (podman system service, '
                        'storage in %s)' % (layout.compute_host,
                                            podman.root(layout))):
                podman.start(layout)
        if layout.networked:
            with p.step('Open vSwitch'):
                if network.ensure_ovs(layout):
                    p.out.write('(started with ovs-ctl) ')

    def start_backing_services(self, python):
        """The image archive and RabbitMQ in the background; MariaDB, the
        venv, configuration and databases."""
        layout, p = self.layout, self.p
        self.busybox = system.find_busybox()
        # docker import/save needs only the engine: build while the rest
        # starts.
        self.archive = self.pool.submit(images.build_archive, layout,
                                        self.busybox)
        # RabbitMQ takes a while to boot and only Nova and Neutron need it.
        self.rabbit = self.pool.submit(system.start_rabbitmq, layout)
        with p.step('MariaDB (private instance)'):
            system.start_mariadb(layout)
        self.install_venv(python)
        with p.step('configuration in ' + layout.etc):
            configs.write_all(layout)
        with p.step('databases'):
            # All on MariaDB: even Keystone's token requests write, and
            # SQLite answers "database is locked" to a second writer.
            system.create_databases(layout, bootstrap.databases(layout))
            bootstrap.sync_databases(layout)

    def start_apis(self):
        """Keystone first; the other APIs start while the catalog is
        registered."""
        layout, p = self.layout, self.p
        with p.step('Keystone'):
            cloud.start_api(layout, 'keystone')
            cloud.wait_api(layout, 'keystone')
        with p.step('RabbitMQ (private instance)'):
            self.rabbit.result()
        apis = [name for name in cloud.API_NAMES
                if name != 'keystone' and name not in cloud.ON_DEMAND
                and name in cloud.services_of(layout)]
        for name in apis:
            cloud.start_api(layout, name)
        with p.step('service users and catalog'):
            bootstrap.register_catalog(layout)
        for name in apis:
            with p.step(name):
                cloud.wait_api(layout, name)

    def start_daemons(self):
        """Neutron's, Heat's and Nova's daemons, and the second host."""
        layout = self.layout
        if layout.networked:
            network.ensure_phys_bridge()
            for name in cloud.NEUTRON_DAEMONS:
                cloud.start_neutron_daemon(layout, name)
        if layout.heat:
            cloud.start_heat_api(layout)
        self.daemons_started = time.time()
        for name in cloud.NOVA_DAEMONS:
            cloud.start_nova_daemon(layout, name)
        cloud.start_serial_proxy(layout)
        if self.second:
            with self.p.step('second compute host %s: engine, switch, '
                             'agent, nova-compute' % self.second.name):
                self.second.start()

    def wait_compute_hosts(self):
        """Each compute host registered, its agent alive, mapped to the
        cell."""
        layout, p = self.layout, self.p
        with p.step('Nova daemons report; nova-compute registers its node'):
            wait_for(lambda: _quiet(bootstrap.compute_registered, layout,
                                    self.daemons_started), 180,
                     'nova-compute', layout.log('nova-compute'),
                     alive=lambda: _daemons_alive(layout,
                                                  cloud.NOVA_DAEMONS))
        if layout.networked:
            with p.step('Open vSwitch agent reports to Neutron'):
                agent = 'neutron-openvswitch-agent'
                wait_for(lambda: _quiet(network.agent_alive,
                                        bootstrap.admin_client(layout),
                                        layout.compute_host), 120,
                         agent, layout.log(agent),
                         alive=lambda: _daemons_alive(
                             layout, cloud.NEUTRON_DAEMONS))
        with p.step('cell mapping of the compute host'):
            bootstrap.once(layout, 'discover-hosts',
                           lambda: bootstrap.discover_hosts(layout))
        if self.second:
            with p.step('%s registers; its agent reports'
                        % self.second.name):
                self.second.wait()

    def create_resources(self):
        """Flavors, the private network, the busybox image (and the KVM
        host with its image)."""
        layout, p = self.layout, self.p
        with p.step('flavors'):
            bootstrap.ensure_flavors(layout)
        if layout.networked:
            with p.step('network %s (IPv4 and IPv6 subnets)'
                        % network.PRIVATE):
                network.ensure_private_network(
                    bootstrap.admin_client(layout))
        with p.step('image busybox (built locally, docker save into '
                    'Glance)'):
            images.ensure_glance_image(bootstrap.admin_client(layout),
                                       self.archive.result())
        if layout.kvm:
            kvm.up(layout, p, self.busybox)

    def wait_extras(self):
        """What starts with its first client listens: the serial console
        proxy, and heat-api (with heat-engine)."""
        layout, p = self.layout, self.p
        for name in cloud.ON_DEMAND:
            if name not in cloud.services_of(layout):
                continue
            with p.step('%s listens (starts with its first client)' % name):
                wait_for(functools.partial(cloud.on_demand_listens, layout,
                                           name), 60, name, layout.log(name),
                         alive=functools.partial(_daemons_alive, layout,
                                                 (name,)))

    def finish(self):
        """Launchers and credentials; what to type next."""
        layout = self.layout
        self.pool.shutdown()
        userenv.write_launchers(layout)
        openrc = userenv.write_openrc(layout, userenv.sudo_user())
        self.p.say('ready. Credentials: source %s' % openrc)
        print(userenv.openrc(layout), end='')
        print('\n' + next_steps(layout, openrc), end='')
        return 0


def next_steps(layout, openrc):
    """What to type next; each line works as printed."""
    nic = ('--network ' + network.PRIVATE if layout.networked
           else '--nic none')
    lines = ['source ' + openrc,
             'openstack server create --image busybox --flavor m1.tiny %s '
             '--wait demo' % nic,
             'openstack console log show demo']
    if layout.kvm:
        lines += ['openstack server create --image %s --flavor m1.micro '
                  '%s --wait demo-vm' % (vm_image.IMAGE, nic),
                  'openstack console log show demo-vm']
    if layout.heat and layout.networked:
        lines.append('openstack stack create --wait -t %s demo-stack' % (
            os.path.join(venv.project_root(), HEAT_SAMPLE)))
    return 'Try:\n' + ''.join('  %s\n' % line for line in lines)


def _second_host(layout):
    """The second Docker host of ``up --computes 2`` (networked only)."""
    if layout.computes < 2:
        return None
    if not layout.networked:
        raise Failed('--computes 2 needs the networked all-in-one '
                     '(--network ovs)')
    return dockerhost.DockerHost(layout)


def _daemons_alive(layout, names):
    for name in names:
        if not services.read_pid(layout.pidfile(name)):
            raise Failed('%s exited' % name, layout.log(name))
    return True


def _quiet(func, *args):
    try:
        return func(*args)
    except Exception:  # noqa: B902 - polled until it works or times out
        return False


def down(layout, args):
    # OpenStack first, then what it stands on, and each engine this
    # all-in-one started (whatever --computes and --engine say now: they
    # may have been started). The hosts at once: some of their services
    # take the whole grace before they are killed (the Open vSwitch agents
    # hang closing their AMQP channels, nova-compute in its graceful
    # shutdown), and one host after the other made ``down`` take 76 s.
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        hosts = [pool.submit(dockerhost.DockerHost(layout).stop),
                 pool.submit(kvm.down, layout),
                 pool.submit(services.stop, layout, (
                     'heat-engine', cloud.SERIAL_PROXY) + cloud.NOVA_DAEMONS
                     + cloud.NEUTRON_DAEMONS + cloud.API_NAMES)]
    stopped = {}
    for host in hosts:
        stopped.update(host.result())
    stopped.update(podman.stop(layout))
    stopped.update(services.stop(layout, cloud.BACKING))
    for name, pid in stopped.items():
        print('stopped %-25s (pid %d)' % (name, pid))
    if network.stop_ovs(layout):
        print('stopped Open vSwitch (ovs-ctl stop)')
    print('all services this all-in-one started are stopped; containers of '
          'servers are left as they are (on its Podman engine: stopped)')
    return 0


def status(layout, args):
    health = cloud.health(layout)
    if layout.engine == 'podman':
        health.update(podman.health(layout))
    if layout.computes > 1:
        health.update(dockerhost.DockerHost(layout).health())
    if layout.kvm:
        kvm.health(layout, health)
    total, counted = 0, set()
    row = '%-25s %-8s %-7s %8s  %s'
    print(row % ('service', 'pid', 'health', 'RSS MiB', 'detail'))
    for name, (pid, ok, detail) in health.items():
        rss = services.group_rss_kib(pid) if pid else 0
        # Once per process (nova-scheduler runs in nova-conductor's).
        total += 0 if pid in counted else rss
        counted.add(pid)
        print(row % (
            name, pid or '-', 'ok' if ok else 'DOWN',
            '%.0f' % (rss / 1024) if pid else '-', detail))
    print('total RSS of the services up started: %.0f MiB' % (total / 1024))
    return 0 if all(ok for _, ok, _ in health.values()) else 1


def logs(layout, args):
    if not args.service:
        for name in sorted(os.listdir(layout.logs)):
            path = os.path.join(layout.logs, name)
            print('%8d KiB  %s' % (os.path.getsize(path) // 1024, path))
        return 0
    path = cloud.log_of(layout, args.service)
    if not os.path.exists(path):
        print('no log %s' % path, file=sys.stderr)
        return 1
    follow = ['-F'] if args.follow else []
    argv = ['tail', '-n', str(args.lines)] + follow + [path]
    return subprocess.call(argv)


def run_tempest(layout, args):
    return tempest.run(layout, args.python, args.regex, args.concurrency)


def _add_shape_options(parser):
    """The cloud's shape, shared by up and install (which installs what
    that shape needs)."""
    parser.add_argument('--python', default='/usr/bin/python3',
                        help='interpreter for the venv (default %(default)s)')
    parser.add_argument('--network', choices=layout_mod.NETWORK_MODES,
                        default=None,
                        help="'ovs' (the default): servers get Neutron ports "
                             "bound by ML2/OVS and neutron-openvswitch-agent; "
                             "'none': no agent, servers boot with --nic none "
                             "(remembered)")
    parser.add_argument('--heat', action=argparse.BooleanOptionalAction,
                        default=None,
                        help='orchestration: heat-api and heat-engine (on by '
                             'default; --no-heat leaves them out, '
                             'remembered)')
    parser.add_argument('--computes', type=int, choices=(1, 2),
                        default=None,
                        help='compute hosts: 2 adds a second Docker host '
                             'with its own engine, switch and agent in a '
                             'network namespace (default 1, remembered)')
    parser.add_argument('--kvm', action=argparse.BooleanOptionalAction,
                        default=None,
                        help='a second compute host beside the Docker host: '
                             "Nova's libvirt driver with KVM (emulation where "
                             'KVM cannot boot a guest), and the test image '
                             '%s (off by default, remembered)'
                             % vm_image.IMAGE)
    parser.add_argument('--engine', choices=layout_mod.ENGINES, default=None,
                        help="the first compute host's engine: 'docker' (the "
                             "default: the host's Docker engine) or 'podman' "
                             '(podman system service with its own storage '
                             'under the state directory; remembered)')


def parser():
    ap = argparse.ArgumentParser(
        prog='nova-docker-aio',
        description='An all-in-one OpenStack cloud with the nova-docker '
                    'driver: Keystone, Glance, Placement, Nova, Neutron on '
                    '127.0.0.1.')
    ap.add_argument('--state-dir', default=os.environ.get(
        'NOVA_DOCKER_AIO_STATE', layout_mod.DEFAULT_STATE_DIR),
        help='where the venv, configs, data, logs and pid files live '
             '(default %(default)s)')
    sub = ap.add_subparsers(dest='command', required=True)
    p_up = sub.add_parser('up', help='install what is missing and start '
                                     'everything (safe to re-run)')
    p_up.add_argument('--port-offset', type=int, default=None,
                      help='add this to every port (remembered)')
    _add_shape_options(p_up)
    p_install = sub.add_parser(
        'install', help="install what up and tempest need (packages, "
                        "venvs) and start nothing; takes up's options")
    _add_shape_options(p_install)
    p_tempest = sub.add_parser('tempest', help='run tempest against the '
                                               'running all-in-one')
    p_tempest.add_argument('--regex', default=None,
                           help='default: the servers API tests, and with '
                                'two compute hosts the cold migration ones')
    p_tempest.add_argument('--concurrency', type=int, default=2)
    p_tempest.add_argument('--python', default='/usr/bin/python3')
    sub.add_parser('down', help='stop what up started')
    sub.add_parser('status', help='health and memory of every service')
    p_logs = sub.add_parser('logs', help='list the logs, or show one')
    p_logs.add_argument('service', nargs='?')
    p_logs.add_argument('-n', '--lines', type=int, default=50)
    p_logs.add_argument('-f', '--follow', action='store_true')
    return ap


def main(argv=None):
    args = parser().parse_args(argv)
    if os.geteuid() != 0:
        print('nova-docker-aio runs as root (it installs packages, runs the '
              'Docker engine and MariaDB)', file=sys.stderr)
        return 1
    layout = layout_mod.Layout(args.state_dir,
                               getattr(args, 'port_offset', None),
                               getattr(args, 'network', None),
                               getattr(args, 'heat', None),
                               getattr(args, 'computes', None),
                               getattr(args, 'kvm', None),
                               getattr(args, 'engine', None))
    command = {'up': up, 'install': install, 'down': down,
               'status': status, 'logs': logs, 'tempest': run_tempest}
    try:
        return command[args.command](layout, args)
    except Failed as e:
        print('\nFAILED: %s' % e.what, file=sys.stderr)
        if e.log:
            print('read the log: %s' % e.log, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
