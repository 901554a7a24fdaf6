"""Another compute host of the all-in-one, on this same machine: its own
network namespace, its own Open vSwitch and its own Neutron Open vSwitch
agent, wired to the first host's switch.

The namespace is named after the host's compute host name. Inside it run
ovs-vswitchd (userspace datapath, its own run directory and database) and
neutron-openvswitch-agent; what runs the servers (nova-compute with its
own Docker engine, see dockerhost; or another driver) starts its
nova-compute inside it too, with ``in_netns`` and ``nova_options``: the
host ends of its ports are then made in the namespace and plugged into
this host's br-int by os-vif.

Between the hosts: a veth pair joins the first host's ``br-aio-phys``
(root namespace) to this host's, the ``aio`` physical network on which
``private`` is a flat network (network.py says why not VXLAN). The
cloud's services listen on the machine's loopback only: inside the
namespace a relay (``nsnet relay``) answers on the same ports. No address
is added outside the namespace.
"""

import hashlib
import os
import subprocess

from nova_docker.aio import bootstrap
from nova_docker.aio import configs
from nova_docker.aio import network
from nova_docker.aio.progress import Failed, wait_for
from nova_docker.aio import services

SCHEMA = '/usr/share/openvswitch/vswitch.ovsschema'
AGENT = 'neutron-openvswitch-agent'
# What a compute host and its agent reach on the machine's loopback.
RELAYED = ('keystone', 'glance', 'placement', 'nova', 'neutron', 'rabbitmq')


class NetworkedHost:
    """Compute host ``<all-in-one host>-<suffix>``; ``index`` (2, 3, ...)
    numbers the hosts: this one's tunnel endpoint is 127.0.0.<index> in
    its namespace, so that Neutron never sees two agents with one."""

    def __init__(self, layout, suffix, index):
        self.layout = layout
        self.suffix = suffix
        self.name = '%s-%s' % (layout.compute_host, suffix)
        self.netns = self.name
        self.tunnel_ip = '127.0.0.%d' % index
        self.root = layout.path('hosts', suffix)
        self.ovs_run = os.path.join(self.root, 'ovs')
        self.ovsdb = 'unix:' + os.path.join(self.ovs_run, 'db.sock')
        tag = hashlib.sha256(self.name.encode()).hexdigest()[:8]
        self.root_dev, self.ns_dev = 'aio%s-r' % tag, 'aio%s-n' % tag

    # -- for the caller's nova-compute -----------------------------------

    def service(self, base):
        """This host's name for a service (pid file, log, status row)."""
        return '%s-%s' % (base, self.suffix)

    def in_netns(self, argv):
        """argv run inside this host's namespace."""
        return [self.layout.bin('python'), '-m', 'nova_docker.aio.nsnet',
                'exec', self.netns, '--'] + list(argv)

    def env(self):
        # OVS tools and daemons find the switch's sockets by OVS_RUNDIR.
        return dict(configs.service_env(self.layout), OVS_RUNDIR=self.ovs_run,
                    OVS_DBDIR=self.ovs_run, OVS_LOGDIR=self.layout.logs)

    def nova_options(self):
        """nova.conf options any nova-compute of this host needs."""
        state = os.path.join(self.root, 'nova')
        return {
            'DEFAULT': {'host': self.name, 'state_path': state,
                        'instances_path': os.path.join(state, 'instances')},
            'oslo_concurrency': {'lock_path': os.path.join(state, 'lock')},
            'os_vif_ovs': {'ovsdb_connection': self.ovsdb},
        }

    def start_in_netns(self, base, argv):
        return services.start(self.layout, self.service(base),
                              self.in_netns(argv), env=self.env())

    # -- the switch and the agent ----------------------------------------

    def start(self):
        """Namespace, switch, wire, relay and agent (re-runnable)."""
        for d in (self.ovs_run, os.path.join(self.root, 'nova', 'instances'),
                  os.path.join(self.root, 'neutron')):
            os.makedirs(d, exist_ok=True)
        db = os.path.join(self.ovs_run, 'conf.db')
        if not os.path.exists(db):
            self._run(['ovsdb-tool', 'create', db, SCHEMA])
        self._start('ovsdb-server', [
            'ovsdb-server', db, '--remote=punix:' + self.ovsdb[5:],
            '--pidfile=%s/ovsdb-server.pid' % self.ovs_run,
            '--unixctl=%s/ovsdb-server.ctl' % self.ovs_run])
        wait_for(lambda: self._vsctl('--no-wait', 'show', check=False), 30,
                 'ovsdb-server of ' + self.name,
                 self.layout.log(self.service('ovsdb-server')))
        self._vsctl('--no-wait', 'init')
        self._nsnet('create', self.netns, self.root_dev, self.ns_dev,
                    self.tunnel_ip)
        self.start_in_netns('ovs-vswitchd', [
            'ovs-vswitchd', self.ovsdb,
            '--pidfile=%s/ovs-vswitchd.pid' % self.ovs_run,
            '--unixctl=%s/ovs-vswitchd.ctl' % self.ovs_run])
        # Without --no-wait, ovs-vsctl returns once ovs-vswitchd applied it.
        self._vsctl('--may-exist', 'add-br', network.PHYS_BRIDGE, '--',
                    'set', 'bridge', network.PHYS_BRIDGE,
                    'datapath_type=netdev', '--', '--may-exist', 'add-port',
                    network.PHYS_BRIDGE, self.ns_dev)
        network.add_phys_port(self.root_dev)
        self._start('relay', [self.layout.bin('python'), '-m',
                              'nova_docker.aio.nsnet', 'relay', self.netns]
                    + [str(self.layout.ports[p]) for p in RELAYED])
        agent_conf = configs.conf(self.layout, 'neutron',
                                  self.service('openvswitch_agent') + '.ini')
        configs.write(agent_conf, self.agent_config())
        self.start_in_netns(AGENT, [
            self.layout.bin(AGENT),
            '--config-file', configs.conf(self.layout, 'neutron'),
            '--config-file', agent_conf])

    def agent_config(self):
        sections = configs.openvswitch_agent(self.layout)
        sections['DEFAULT'] = {
            'host': self.name,
            'state_path': os.path.join(self.root, 'neutron')}
        sections['ovs'] = dict(sections['ovs'], ovsdb_connection=self.ovsdb,
                               local_ip=self.tunnel_ip)
        sections['oslo_concurrency'] = {
            'lock_path': os.path.join(self.root, 'neutron', 'lock')}
        return sections

    def wait_agent(self, timeout=120):
        name = self.service(AGENT)
        wait_for(lambda: _quiet(network.agent_alive,
                                bootstrap.admin_client(self.layout),
                                self.name), timeout,
                 'the Open vSwitch agent of ' + self.name,
                 self.layout.log(name),
                 alive=lambda: self.check_running(name))

    def discover(self):
        """Map this host's compute node to the cell (once)."""
        bootstrap.once(self.layout, 'discover-hosts-' + self.name,
                       lambda: bootstrap.discover_hosts(self.layout))

    def stop(self):
        """Stop the agent, relay and switch, remove the wire and the
        namespace: {service: pid} of what was running."""
        stopped = services.stop(self.layout, [
            self.service(base) for base in (
                AGENT, 'relay', 'ovs-vswitchd', 'ovsdb-server')])
        if os.path.exists(self.root):
            network.del_phys_port(self.root_dev)
            self._nsnet('delete', self.netns, self.root_dev)
        return stopped

    def health(self):
        """{service: [pid, healthy, detail]} rows for ``status``."""
        rows = {}
        for base in ('ovsdb-server', 'ovs-vswitchd', 'relay', AGENT):
            pid = services.read_pid(self.layout.pidfile(self.service(base)))
            rows[self.service(base)] = [pid, bool(pid), '']
        agent = rows[self.service(AGENT)]
        try:
            alive = network.agent_alive(bootstrap.admin_client(self.layout),
                                        self.name)
        except Exception as e:  # noqa: B902 - status reports, never fails
            agent[2] = 'Neutron API unreachable: %s' % e
        else:
            agent[1] = agent[1] and alive
            agent[2] = 'neutron: %s (host %s)' % (
                'alive' if alive else 'down', self.name)
        return rows

    # --------------------------------------------------------------------

    def _start(self, base, argv):
        return services.start(self.layout, self.service(base), argv,
                              env=self.env())

    def check_running(self, name):
        """For wait_for: raise Failed once the service has exited."""
        if not services.read_pid(self.layout.pidfile(name)):
            raise Failed('%s exited' % name, self.layout.log(name))
        return True

    def _run(self, argv, check=True):
        log = self.layout.log(self.service('setup'))
        with open(log, 'ab') as out:
            rc = subprocess.call(argv, stdout=out, stderr=out,
                                 env=self.env(), timeout=60)
        if check and rc:
            raise Failed('%s failed' % ' '.join(argv[:4]), log)
        return rc == 0

    def _vsctl(self, *args, check=True):
        return self._run(['ovs-vsctl', '--db=' + self.ovsdb, '--timeout=30']
                         + list(args), check=check)

    def _nsnet(self, *args):
        self._run([self.layout.bin('python'), '-m', 'nova_docker.aio.nsnet']
                  + list(args))


def _quiet(func, *args):
    try:
        return func(*args)
    except Exception:  # noqa: B902 - polled until it works or times out
        return False
