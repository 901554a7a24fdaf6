"""Databases, Keystone users and catalog, cell mapping and flavors.

Each one-time step leaves a stamp under ``<state>/stamps`` so that a re-run
of ``up`` skips it; every API step looks before it creates.
"""

import concurrent.futures
import datetime
import os
import subprocess

from nova_docker.aio import configs
from nova_docker.aio.layout import REGION, SERVICE_USERS
from nova_docker.aio.progress import Failed
from nova_docker.aio import rest

# (service name, type, path after the service's port)
CATALOG = (
    ('glance', 'image', 'glance', ''),
    ('placement', 'placement', 'placement', ''),
    ('nova', 'compute', 'nova', '/v2.1'),
    ('neutron', 'network', 'neutron', ''),
)
# Keystone puts the token's project into the URL.
HEAT_CATALOG = (('heat', 'orchestration', 'heat', '/v1/%(tenant_id)s'),)

FLAVORS = (  # id, name, vCPUs, RAM MB, disk GB
    ('42', 'm1.nano', 1, 64, 1),
    ('84', 'm1.micro', 1, 128, 1),
    ('1', 'm1.tiny', 1, 512, 1),
    ('2', 'm1.small', 1, 2048, 20),
    ('3', 'm1.medium', 2, 4096, 40),
)


def run(layout, argv, log, ok_codes=(0,)):
    with open(layout.log(log), 'ab') as out:
        out.write(('$ %s\n' % ' '.join(argv)).encode())
        out.flush()
        rc = subprocess.call(argv, stdout=out, stderr=out,
                             env=dict(os.environ, **configs.service_env(
                                 layout)))
    if rc not in ok_codes:
        raise Failed('%s exited %d' % (' '.join(argv[:3]), rc),
                     layout.log(log))
    return rc


def once(layout, name, func):
    """Run ``func`` unless its stamp says it has been done."""
    stamp = layout.path('stamps', name)
    if os.path.exists(stamp):
        return
    func()
    os.makedirs(os.path.dirname(stamp), exist_ok=True)
    open(stamp, 'w').close()


def _keystone(layout):
    conf = ['--config-file', configs.conf(layout, 'keystone')]
    km = [layout.bin('keystone-manage')] + conf
    run(layout, km + ['db_sync'], 'keystone-manage')
    for what in ('fernet_setup', 'credential_setup'):
        run(layout, km + [what, '--keystone-user', 'root',
                          '--keystone-group', 'root'], 'keystone-manage')
    url = layout.url('keystone', '/v3')
    run(layout, km + [
        'bootstrap', '--bootstrap-password', layout.secret('admin'),
        '--bootstrap-region-id', REGION,
        '--bootstrap-admin-url', url, '--bootstrap-internal-url', url,
        '--bootstrap-public-url', url], 'keystone-manage')


def _nova_manage(layout, *conf_files):
    argv = [layout.bin('nova-manage')]
    for name in ('nova.conf',) + conf_files:
        argv += ['--config-file', configs.conf(layout, 'nova', name)]
    return argv


def _nova_api(layout):
    nm = _nova_manage(layout)
    run(layout, nm + ['api_db', 'sync'], 'nova-manage')
    run(layout, nm + ['cell_v2', 'map_cell0'], 'nova-manage')
    # 2: a cell with this database and transport already exists.
    run(layout, nm + ['cell_v2', 'create_cell', '--name', 'cell1'],
        'nova-manage', ok_codes=(0, 2))


# Both cell databases at once, and beside the API database: each
# nova-manage run would otherwise wait for the one before it.
def _nova_cell1(layout):
    run(layout, _nova_manage(layout) + ['db', 'sync', '--local_cell'],
        'nova-manage-cell1')


def _nova_cell0(layout):
    run(layout, _nova_manage(layout, 'nova-cell0.conf') + [
        'db', 'sync', '--local_cell'], 'nova-manage-cell0')


def _neutron(layout):
    run(layout, [layout.bin('neutron-db-manage'),
                 '--config-file', configs.conf(layout, 'neutron'),
                 '--config-file', configs.conf(
                     layout, 'neutron', configs.ML2_CONF),
                 'upgrade', 'heads'], 'neutron-db-manage')


def _glance_placement(layout):
    run(layout, [layout.bin('glance-manage'), '--config-file',
                 configs.conf(layout, 'glance', 'glance-api.conf'),
                 'db', 'sync'], 'glance-manage')
    run(layout, [layout.bin('placement-manage'), '--config-file',
                 configs.conf(layout, 'placement'), 'db', 'sync'],
        'placement-manage')


def _heat(layout):
    run(layout, [layout.bin('heat-manage'), '--config-file',
                 configs.conf(layout, 'heat'), 'db_sync'], 'heat-manage')


def databases(layout):
    return ('keystone', 'glance', 'placement', 'nova_api', 'nova',
            'nova_cell0', 'neutron') + (('heat',) if layout.heat else ())


def sync_databases(layout):
    """Keystone first in line: its API is needed soonest."""
    chains = {'keystone': _keystone, 'nova-api-db': _nova_api,
              'nova-cell1-db': _nova_cell1, 'nova-cell0-db': _nova_cell0,
              'neutron-db': _neutron, 'glance-placement-db': _glance_placement}
    if layout.heat:
        chains['heat-db'] = _heat
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(once, layout, name, lambda f=f: f(layout))
                   for name, f in chains.items()]
        for future in futures:
            future.result()


_clients = {}


def admin_client(layout, fresh=False):
    """The admin's client; one login per run (each costs a bcrypt check)."""
    if fresh or layout.root not in _clients:
        _clients[layout.root] = rest.Client(
            layout.url('keystone', '/v3'), 'admin',
            layout.secret('admin')).login()
    return _clients[layout.root]


class _Identity:
    """Keystone collections read once; only what is missing is created."""

    def __init__(self, client):
        self.c = client
        self.have = {}

    def ensure(self, collection, body, match):
        if collection not in self.have:
            self.have[collection] = self.c.identity(
                'GET', '/' + collection)[collection]
        for item in self.have[collection]:
            if all(item.get(k) == v for k, v in match.items()):
                return item['id']
        key = collection[:-1]
        item = self.c.identity('POST', '/' + collection, {key: body})[key]
        self.have[collection].append(item)
        return item['id']


def register_catalog(layout):
    """Service users with the ``service`` role, services and endpoints."""
    c = admin_client(layout, fresh=True)
    ks = _Identity(c)
    project = ks.ensure('projects', {'name': 'service',
                                     'domain_id': 'default'},
                        {'name': 'service'})
    roles = [ks.ensure('roles', {'name': r}, {'name': r})
             for r in ('admin', 'service')]
    granted = {(a['user']['id'], a['role']['id']) for a in c.identity(
        'GET', '/role_assignments?scope.project.id=' + project)[
            'role_assignments']}
    for user in SERVICE_USERS:
        uid = ks.ensure('users', {'name': user, 'domain_id': 'default',
                                  'password': layout.secret(user)},
                        {'name': user})
        for role in roles:
            if (uid, role) not in granted:
                c.identity('PUT', '/projects/%s/users/%s/roles/%s'
                           % (project, uid, role))
    for name, stype, port_of, suffix in CATALOG + (
            HEAT_CATALOG if layout.heat else ()):
        sid = ks.ensure('services', {'name': name, 'type': stype},
                        {'type': stype})
        url = layout.url(port_of, suffix)
        for interface in ('public', 'internal', 'admin'):
            ks.ensure('endpoints', {'service_id': sid, 'url': url,
                                    'interface': interface,
                                    'region_id': REGION},
                      {'service_id': sid, 'interface': interface})
    # Log in again: the token's catalog now holds the new endpoints.
    admin_client(layout, fresh=True)


def compute_registered(layout, since):
    """True once nova-compute has made its node and resource provider, and
    the Nova daemons report (see nova_daemons_up).

    Nova's os-hypervisors lists only hosts already mapped to a cell, which
    is what discover_hosts does next: ask Placement instead.
    """
    c = admin_client(layout)
    found = c.call('GET', c.endpoint('placement')
                   + '/resource_providers?name=' + layout.compute_host)
    return bool(found['resource_providers']) and nova_daemons_up(
        layout, since)


def nova_daemons_up(layout, since):
    """Conductor, scheduler and compute have each sent a heartbeat since
    ``since`` (seconds since the epoch).

    Nova calls a service "up" for a minute after its last heartbeat, so a
    quick down-and-up finds the last run's records "up". nova-compute's
    first heartbeat comes after its start-up (init_host): a server sent to
    it before then is put in ERROR as a build its restart interrupted.
    """
    c = admin_client(layout)
    listed = c.call('GET', c.endpoint('compute') + '/os-services?host='
                    + layout.compute_host)['services']
    # Nova's timestamps are UTC, to the second.
    threshold = datetime.datetime.fromtimestamp(
        int(since), datetime.timezone.utc).replace(tzinfo=None)
    fresh = {s['binary'] for s in listed if s['state'] == 'up' and s[
        'updated_at'] and datetime.datetime.fromisoformat(
            s['updated_at']) >= threshold}
    return fresh >= {'nova-conductor', 'nova-scheduler', 'nova-compute'}


def discover_hosts(layout):
    run(layout, [layout.bin('nova-manage'), '--config-file',
                 configs.conf(layout, 'nova'), 'cell_v2', 'discover_hosts',
                 '--verbose'], 'nova-manage')


def ensure_flavors(layout):
    c = admin_client(layout)
    nova = c.endpoint('compute')
    have = {f['name'] for f in c.call(
        'GET', nova + '/flavors?is_public=None')['flavors']}
    for fid, name, vcpus, ram, disk in FLAVORS:
        if name not in have:
            c.call('POST', nova + '/flavors', {'flavor': {
                'id': fid, 'name': name, 'vcpus': vcpus, 'ram': ram,
                'disk': disk}})
        # busybox's ping needs raw sockets: the demo flavors opt in to
        # NET_RAW, which the driver otherwise drops.
        c.call('POST', nova + '/flavors/%s/os-extra_specs' % fid,
               {'extra_specs': {'docker:cap_add': 'NET_RAW'}})
