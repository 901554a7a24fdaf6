"""Where everything lives under the state directory, and the settings and
secrets that must stay the same across runs (so that ``up`` is re-runnable).
"""

import hashlib
import json
import os
import secrets
import socket

DEFAULT_STATE_DIR = '/var/lib/nova-docker-aio'
REGION = 'RegionOne'
# The compute host name: fixed, so that containers, the compute service and
# the node keep their names whatever the machine is called. A second
# all-in-one on the same engine (another state directory) gets its own,
# or its nova-compute would find the first one's containers as its own.
COMPUTE_HOST = 'nova-docker-aio'
SERVICE_USERS = ('nova', 'glance', 'placement', 'neutron', 'heat')
# How servers get their networks: 'ovs' binds real Neutron ports (ML2/OVS
# and neutron-openvswitch-agent on the host's Open vSwitch), 'none' runs
# Neutron without agents (servers boot with --nic none only).
NETWORK_MODES = ('ovs', 'none')
# The first compute host's engine: the host's Docker engine (shared), or
# a Podman service of this all-in-one's own (aio/podman.py).
ENGINES = ('docker', 'podman')

# Standard ports; --port-offset shifts them all when they are taken.
BASE_PORTS = {
    'keystone': 5000,
    'glance': 9292,
    'placement': 8778,
    'nova': 8774,
    'neutron': 9696,
    'heat': 8004,
    'rabbitmq': 5672,
    'rabbitmq_dist': 25672,
    # neutron-openvswitch-agent's OpenFlow controller, on loopback.
    'openflow': 6633,
    # nova-serialproxy (websockets to servers' serial consoles).
    'serialproxy': 6083,
    # The second Docker host's console endpoints (SERIAL_PORTS of them),
    # beyond Nova's default range 10000-20000, which the first host uses.
    'serial_2': 20100,
}


class Layout:
    def __init__(self, state_dir, port_offset=None, network=None,
                 heat=None, computes=None, kvm=None, engine=None):
        self.root = os.path.abspath(state_dir)
        self.venv = self.path('venv')
        self.etc = self.path('etc')
        self.logs = self.path('logs')
        self.run = self.path('run')
        self.data = self.path('data')
        self._settings_file = self.path('settings.json')
        self.settings = self._load_settings(port_offset, network, heat,
                                            computes)
        # The KVM compute host beside the Docker host (up --kvm).
        self.settings.setdefault('kvm', False)
        if kvm is not None:
            self.settings['kvm'] = kvm
        self.settings.setdefault('engine', 'docker')
        if engine is not None:
            self.settings['engine'] = engine
        self.ports = {name: port + self.settings['port_offset']
                      for name, port in BASE_PORTS.items()}

    def path(self, *parts):
        return os.path.join(self.root, *parts)

    def bin(self, name):
        return os.path.join(self.venv, 'bin', name)

    def log(self, name):
        return os.path.join(self.logs, name + '.log')

    def pidfile(self, name):
        return os.path.join(self.run, name + '.pid')

    def url(self, service, suffix=''):
        return 'http://127.0.0.1:%d%s' % (self.ports[service], suffix)

    @property
    def db_socket(self):
        return self.path('mysql', 'mysqld.sock')

    def db_url(self, name):
        # A private MariaDB reached by its socket only: no port to collide
        # with another database on this host.
        return ('mysql+pymysql://aio:%s@localhost/%s?unix_socket=%s'
                '&charset=utf8' % (self.secret('db'), name, self.db_socket))

    @property
    def transport_url(self):
        return 'rabbit://guest:guest@127.0.0.1:%d/' % self.ports['rabbitmq']

    @property
    def broker_url(self):
        """The same broker, as kombu names it (to look at its queues)."""
        return 'amqp://' + self.transport_url.split('://', 1)[1]

    @property
    def compute_host(self):
        return self.settings['compute_host']

    @property
    def heat(self):
        """Heat (heat-api, heat-engine) runs in this all-in-one."""
        return self.settings['heat']

    @property
    def computes(self):
        """How many compute hosts (up --computes; dockerhost)."""
        return self.settings['computes']

    @property
    def kvm(self):
        return self.settings['kvm']

    @property
    def engine(self):
        """The first compute host's engine (up --engine)."""
        return self.settings['engine']

    @property
    def networked(self):
        return self.settings['network'] == 'ovs'

    def secret(self, name):
        return self.settings['secrets'][name]

    def ensure_dirs(self):
        for d in (self.root, self.etc, self.logs, self.run, self.data):
            os.makedirs(d, exist_ok=True)

    def _load_settings(self, port_offset, network, heat, computes):
        try:
            with open(self._settings_file) as f:
                settings = json.load(f)
        except FileNotFoundError:
            settings = {'port_offset': 0, 'secrets': {}}
        if port_offset is not None:
            settings['port_offset'] = port_offset
        settings.setdefault('network', 'ovs')
        if network is not None:
            settings['network'] = network
        settings.setdefault('computes', 1)
        if computes is not None:
            settings['computes'] = computes
        settings.setdefault('heat', True)
        if heat is not None:
            settings['heat'] = heat
        if 'compute_host' not in settings:
            settings['compute_host'] = COMPUTE_HOST
            if self.root != DEFAULT_STATE_DIR:
                settings['compute_host'] += '-' + hashlib.sha256(
                    self.root.encode()).hexdigest()[:6]
        names = ('admin', 'db') + SERVICE_USERS
        for name in names:
            settings['secrets'].setdefault(name, secrets.token_hex(12))
        return settings

    def save_settings(self):
        self.ensure_dirs()
        fd = os.open(self._settings_file,
                     os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, 'w') as f:
            json.dump(self.settings, f, indent=1)

    def openrc(self):
        return ''.join('export %s=%s\n' % kv for kv in (
            ('OS_AUTH_URL', self.url('keystone', '/v3')),
            ('OS_IDENTITY_API_VERSION', '3'),
            ('OS_USERNAME', 'admin'),
            ('OS_PASSWORD', self.secret('admin')),
            ('OS_PROJECT_NAME', 'admin'),
            ('OS_USER_DOMAIN_NAME', 'Default'),
            ('OS_PROJECT_DOMAIN_NAME', 'Default'),
            ('OS_REGION_NAME', REGION),
            ('OS_INTERFACE', 'public'),
        ))


def port_open(port, host='127.0.0.1', timeout=0.5):
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def port_listens(port):
    """Whether a TCP socket listens on ``port`` here (IPv4), found in
    /proc/net/tcp without connecting: a connection would start the service
    that ``on_demand`` starts at the first one."""
    with open('/proc/net/tcp') as f:
        next(f)  # the header
        for line in f:
            local, state = line.split()[1], line.split()[3]
            if state == '0A' and int(local.split(':')[1], 16) == port:
                return True
    return False
