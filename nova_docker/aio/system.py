"""Debian packages and the backing services: MariaDB, RabbitMQ, dockerd.

MariaDB and RabbitMQ run as private instances of this all-in-one (data,
socket and logs under the state directory, MariaDB on its socket only):
they never collide with a database or broker someone else runs here, and
``down`` stops them by pid. The Docker engine is shared: one that answers
is used as it is; otherwise ``up`` starts dockerd and ``down`` stops it.
"""

import glob
import http.client
import os
import shutil
import socket
import subprocess

from nova_docker.aio import layout as layout_mod
from nova_docker.aio.progress import Failed, wait_for
from nova_docker.aio import services

DOCKER_SOCK = '/var/run/docker.sock'
RABBIT_SERVER = '/usr/lib/rabbitmq/bin/rabbitmq-server'


def missing_packages(python, networked):
    want = {
        'mariadb-server': os.path.exists('/usr/sbin/mariadbd'),
        'rabbitmq-server': os.path.exists(RABBIT_SERVER),
        'docker.io': bool(shutil.which('dockerd')),
        'busybox-static': _static_busybox(),
        'python3-venv': subprocess.call(
            [python, '-c', 'import venv, ensurepip'],
            stderr=subprocess.DEVNULL) == 0,
    }
    if networked:
        want.update({
            # The switch, and the pause binary of the driver's infra
            # containers (they own a server's network namespace).
            'openvswitch-switch': bool(shutil.which('ovs-vswitchd')),
            'catatonit': os.path.exists('/usr/bin/catatonit'),
            # The agent's firewall clears a port's connection tracking
            # entries with it.
            'conntrack': bool(shutil.which('conntrack')),
        })
    return [name for name, present in want.items() if not present]


def _static_busybox():
    try:
        out = subprocess.run(['file', '-L', '/bin/busybox'],
                             capture_output=True, text=True).stdout
    except FileNotFoundError:  # no file(1): trust the path
        return os.path.exists('/bin/busybox')
    return 'statically linked' in out or 'static-pie' in out


def install_packages(names, log):
    env = dict(os.environ, DEBIAN_FRONTEND='noninteractive')
    with open(log, 'ab') as out:
        for argv in (['apt-get', 'update', '-q'],
                     ['apt-get', 'install', '-y', '-q',
                      '--no-install-recommends'] + names):
            if subprocess.call(argv, stdout=out, stderr=out, env=env):
                raise Failed('%s failed' % ' '.join(argv[:2]), log)


# -- MariaDB ----------------------------------------------------------------

def _mysql_dir(layout):
    return layout.path('mysql')


def start_mariadb(layout):
    datadir = layout.path('mysql', 'data')
    log = layout.log('mariadb')
    if not os.path.isdir(os.path.join(datadir, 'mysql')):
        os.makedirs(datadir, exist_ok=True)
        shutil.chown(_mysql_dir(layout), 'mysql', 'mysql')
        shutil.chown(datadir, 'mysql', 'mysql')
        with open(log, 'ab') as out:
            rc = subprocess.call(
                ['mariadb-install-db', '--no-defaults', '--user=mysql',
                 '--datadir=' + datadir, '--skip-test-db',
                 '--auth-root-authentication-method=socket'],
                stdout=out, stderr=out)
        if rc:
            raise Failed('mariadb-install-db failed', log)
    pid = services.start(layout, 'mariadb', [
        '/usr/sbin/mariadbd', '--no-defaults', '--user=mysql',
        '--datadir=' + datadir, '--socket=' + layout.db_socket,
        '--pid-file=' + layout.path('mysql', 'mariadbd.pid'),
        '--skip-networking', '--skip-name-resolve',
        '--max-connections=500', '--performance-schema=OFF',
        # Sized for a lab cloud's databases (27 MiB in all after a tempest
        # and an e2e run), not the defaults: 128 MiB caches each for
        # MyISAM and Aria (internal temporary tables), filled as used and
        # kept.
        '--innodb-buffer-pool-size=48M', '--innodb-log-buffer-size=4M',
        '--key-buffer-size=8M', '--aria-pagecache-buffer-size=8M',
        '--table-open-cache=800', '--character-set-server=utf8mb4',
        # A lab cloud: flush the redo log once a second, not per commit
        # (hundreds of schema migrations on the first run).
        '--innodb-flush-log-at-trx-commit=2',
        '--collation-server=utf8mb4_general_ci'])
    wait_for(lambda: _sql(layout, 'SELECT 1', check=False) == 0, 60,
             'MariaDB', log, alive=lambda: services.read_pid(
                 layout.pidfile('mariadb')) == pid)


def _sql(layout, statements, check=True):
    # root@localhost authenticates by unix socket: we are root.
    rc = subprocess.call(
        ['mariadb', '--no-defaults', '-uroot', '-S', layout.db_socket,
         '-e', statements],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if check and rc:
        raise Failed('SQL failed: %s' % statements, layout.log('mariadb'))
    return rc


def create_databases(layout, names):
    pw = layout.secret('db')
    sql = ["CREATE USER IF NOT EXISTS 'aio'@'localhost' IDENTIFIED BY '%s'"
           % pw, "ALTER USER 'aio'@'localhost' IDENTIFIED BY '%s'" % pw]
    for name in names:
        sql.append('CREATE DATABASE IF NOT EXISTS %s CHARACTER SET utf8mb4'
                   % name)
        sql.append("GRANT ALL PRIVILEGES ON %s.* TO 'aio'@'localhost'" % name)
    _sql(layout, ';'.join(sql))


# -- RabbitMQ ---------------------------------------------------------------

def start_rabbitmq(layout):
    base = layout.path('rabbitmq')
    os.makedirs(base, exist_ok=True)
    plugins = os.path.join(base, 'enabled_plugins')
    if not os.path.exists(plugins):
        with open(plugins, 'w') as f:
            f.write('[].\n')  # no management plugin: less memory, no port
    if not layout_mod.port_open(4369):
        # epmd would otherwise daemonise out of our reach; run it in the
        # foreground as one of ours so that ``down`` stops it.
        services.start(layout, 'epmd', ['epmd', '-address', '127.0.0.1'])
        wait_for(lambda: layout_mod.port_open(4369), 10, 'epmd',
                 layout.log('epmd'))
    env = {
        'HOME': base,  # the Erlang cookie lives there
        'RABBITMQ_NODENAME': '%s@localhost' % layout.compute_host,
        'RABBITMQ_NODE_IP_ADDRESS': '127.0.0.1',
        'RABBITMQ_NODE_PORT': str(layout.ports['rabbitmq']),
        'RABBITMQ_DIST_PORT': str(layout.ports['rabbitmq_dist']),
        'RABBITMQ_MNESIA_BASE': os.path.join(base, 'mnesia'),
        'RABBITMQ_LOG_BASE': layout.logs,
        'RABBITMQ_LOGS': '-',
        'RABBITMQ_ENABLED_PLUGINS_FILE': plugins,
        'RABBITMQ_CONFIG_FILE': os.path.join(base, 'rabbitmq'),
        'RABBITMQ_PID_FILE': os.path.join(base, 'rabbitmq.pid'),
        # Two schedulers are all this host has. epmd is already running
        # (ours or shared): the broker must not daemonise one of its own,
        # which ``down`` could not find.
        'RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS': '+S 2:2 +A 4 -start_epmd false',
    }
    for port in (layout.ports['rabbitmq'], layout.ports['rabbitmq_dist']):
        if not services.read_pid(layout.pidfile('rabbitmq')) and (
                layout_mod.port_open(port)):
            raise Failed('RabbitMQ: port %d is taken by another process: '
                         'use up --port-offset N' % port)
    pid = services.start(layout, 'rabbitmq', [RABBIT_SERVER], env=env)
    wait_for(lambda: _amqp_ready(layout.ports['rabbitmq']), 90, 'RabbitMQ',
             layout.log('rabbitmq'), alive=lambda: services.read_pid(
                 layout.pidfile('rabbitmq')) == pid)


def _amqp_ready(port):
    # The port opens a moment before the broker accepts AMQP: ask for the
    # protocol header's answer (the broker's Connection.Start frame).
    try:
        with socket.create_connection(('127.0.0.1', port), timeout=1) as s:
            s.sendall(b'AMQP\x00\x00\x09\x01')
            return s.recv(1)[:1] == b'\x01'
    except OSError:
        return False


# -- Docker engine ----------------------------------------------------------

class _UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__('localhost', timeout=3)
        self._path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(3)
        self.sock.connect(self._path)


def docker_answers(sock=DOCKER_SOCK):
    try:
        conn = _UnixHTTP(sock)
        conn.request('GET', '/_ping')
        return conn.getresponse().status == 200
    except OSError:
        return False


def ensure_docker(layout):
    """Use the engine that answers, or start dockerd; True if we did."""
    if docker_answers():
        return False
    # live-restore: servers keep running (and their ports plugged) while
    # dockerd restarts, e.g. for a package upgrade (README, "Engine and
    # compute restarts").
    pid = services.start(layout, 'dockerd', ['dockerd', '--live-restore'])
    wait_for(docker_answers, 60, 'dockerd', layout.log('dockerd'),
             alive=lambda: services.read_pid(
                 layout.pidfile('dockerd')) == pid)
    return True


def find_busybox():
    for path in ['/bin/busybox'] + glob.glob('/usr/bin/busybox*'):
        if os.path.exists(path):
            return path
    raise Failed('no /bin/busybox (Debian package busybox-static)')
