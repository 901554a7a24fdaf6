"""The second Docker compute host (``up --computes 2``): its own Docker
engine (socket, data-root, exec-root, as tools/second-engine.sh starts one)
and its own nova-compute, inside a computehost.NetworkedHost (namespace,
switch, agent). Servers with ports on ``private`` can live on either host
and move between them (resize, cold migration).
"""

import os
import subprocess

from nova_docker.aio import bootstrap
from nova_docker.aio import computehost
from nova_docker.aio import configs
from nova_docker.aio.progress import wait_for
from nova_docker.aio import services
from nova_docker.aio import system

SUFFIX = '2'
# Servers' serial consoles served at once by this host.
SERIAL_PORTS = 20


def reserved_memory_mb():
    """Half the machine's memory. The scheduler weighs free memory only
    (configs._scheduling): what this host reserves keeps new servers on
    the first host until that one holds this much more (a benchmark's
    fifteen servers, the e2e tests' twenty); migrations still come here,
    where the other half remains for servers."""
    with open('/proc/meminfo') as f:
        for line in f:
            if line.startswith('MemTotal:'):
                return int(line.split()[1]) // 1024 // 2
    raise RuntimeError('no MemTotal in /proc/meminfo')


class DockerHost:

    def __init__(self, layout):
        self.layout = layout
        self.host = computehost.NetworkedHost(layout, SUFFIX, index=2)
        self.engine = os.path.join(self.host.root, 'engine')
        self.docker_sock = os.path.join(self.engine, 'docker.sock')
        self.compute_conf = configs.conf(
            layout, 'nova', 'nova-compute-%s.conf' % SUFFIX)

    @property
    def name(self):
        return self.host.name

    def start(self):
        """Start everything; the waits are in ``wait``."""
        os.makedirs(self.engine, exist_ok=True)
        self.host.start()
        self.start_compute()

    def start_compute(self):
        """This host's engine (waited for), console relay and nova-compute
        (re-runnable: also the e2e evacuation's recovering host)."""
        dockerd = self.host.service('dockerd')
        pid = services.start(self.layout, dockerd, [
            'dockerd', '--host', 'unix://' + self.docker_sock,
            '--data-root', os.path.join(self.engine, 'data'),
            '--exec-root', os.path.join(self.engine, 'exec'),
            '--pidfile', os.path.join(self.engine, 'docker.pid'),
            # No live-restore: ``down`` leaves nothing of this host
            # running (its servers stop with their engine).
            '--bridge', 'none', '--iptables=false', '--ip-masq=false'])
        wait_for(lambda: system.docker_answers(self.docker_sock), 60,
                 dockerd, self.layout.log(dockerd),
                 alive=lambda: services.read_pid(
                     self.layout.pidfile(dockerd)) == pid)
        configs.write(self.compute_conf, self.nova_config())
        # nova-serialproxy runs in the machine's namespace, this host's
        # console endpoints on the loopback of its own.
        first, last = self.serial_ports()
        services.start(self.layout, self.host.service('console-relay'), [
            self.layout.bin('python'), '-m', 'nova_docker.aio.nsnet',
            'expose', self.host.netns, str(first), str(last)])
        self.host.start_in_netns('nova-compute', [
            self.layout.bin('nova-compute'), '--config-file',
            self.compute_conf])

    def stop_compute(self):
        """{service: pid} of what was running: nova-compute, the console
        relay and the engine (its servers stop with it), as on a host
        that fails; its switch and agent keep running."""
        stopped = services.stop(self.layout, [
            self.host.service(base) for base in ('nova-compute',
                                                 'console-relay')])
        stopped.update(services.stop(self.layout,
                                     [self.host.service('dockerd')]))
        # dockerd may leave mounts under its roots behind.
        with open('/proc/mounts') as f:
            points = [line.split()[1] for line in f
                      if line.split()[1].startswith(self.engine + '/')]
        for point in sorted(points, reverse=True):
            subprocess.call(['umount', point])
        return stopped

    def serial_ports(self):
        first = self.layout.ports['serial_2']
        return first, first + SERIAL_PORTS - 1

    def nova_config(self):
        sections = configs.nova_compute(self.layout)
        for section, options in self.host.nova_options().items():
            sections[section] = dict(sections.get(section, {}), **options)
        sections['DEFAULT']['reserved_host_memory_mb'] = str(
            reserved_memory_mb())
        # ``down`` stops this host's servers with its engine, as a host
        # that powers off: at the next ``up`` nova-compute starts those
        # Nova has running (ports plugged again), as after a reboot.
        sections['DEFAULT']['resume_guests_state_on_host_boot'] = 'True'
        sections['serial_console'] = dict(
            sections['serial_console'],
            port_range='%d:%d' % self.serial_ports())
        sections['docker'] = dict(sections['docker'],
                                  api_url='unix://' + self.docker_sock)
        helper = '%s --config-file %s' % (self.layout.bin('privsep-helper'),
                                          self.compute_conf)
        for section in ('vif_plug_ovs_privileged', 'nova_docker_privileged'):
            sections[section] = {'helper_command': helper}
        return sections

    def wait(self):
        """nova-compute registered and its agent alive; then mapped."""
        name = self.host.service('nova-compute')
        wait_for(lambda: _quiet(_registered, self.layout, self.name), 180,
                 'nova-compute of ' + self.name, self.layout.log(name),
                 alive=lambda: self.host.check_running(name))
        self.host.wait_agent()
        self.host.discover()

    def stop(self):
        """{service: pid} of what was running. The servers' containers
        stop with their engine and stay in its data-root."""
        stopped = self.stop_compute()
        stopped.update(self.host.stop())
        return stopped

    def health(self):
        rows = {}
        for base in ('dockerd', 'nova-compute', 'console-relay'):
            pid = services.read_pid(self.layout.pidfile(
                self.host.service(base)))
            rows[self.host.service(base)] = [pid, bool(pid), '']
        rows[self.host.service('dockerd')][2] = 'unix://' + self.docker_sock
        rows[self.host.service('console-relay')][2] = (
            '127.0.0.1:%d-%d' % self.serial_ports())
        compute = rows[self.host.service('nova-compute')]
        try:
            c = bootstrap.admin_client(self.layout)
            listed = c.call('GET', c.endpoint('compute') + (
                '/os-services?binary=nova-compute&host=' + self.name))
        except Exception as e:  # noqa: B902 - status reports, never fails
            compute[2] = 'Nova API unreachable: %s' % e
        else:
            up = [s for s in listed['services']
                  if s['state'] == 'up' and s['status'] == 'enabled']
            compute[1] = compute[1] and bool(up)
            compute[2] = 'nova: %s (host %s)' % (
                'up, enabled' if up else 'down', self.name)
        rows.update(self.host.health())
        return rows


def _registered(layout, host):
    """nova-compute made its node's resource provider."""
    c = bootstrap.admin_client(layout)
    found = c.call('GET', c.endpoint('placement')
                   + '/resource_providers?name=' + host)
    return bool(found['resource_providers'])


def _quiet(func, *args):
    try:
        return func(*args)
    except Exception:  # noqa: B902 - polled until it works or times out
        return False
