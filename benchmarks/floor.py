"""The control plane's own floor for boot timings: a second nova-compute on
the all-in-one running Nova's fake driver (everything but this driver).

``FloorCompute`` starts it with its own host name, state_path and
lock_path, maps it into the cell, and on exit stops it and deletes its
service record (and so its resource provider), leaving the cloud as it
was. Servers reach it through ``availability_zone = nova:<host>`` (admin).

``PortBinding`` makes ports bindable on that host, which has no Open
vSwitch agent: it restarts neutron-server (API and RPC server) with the
``nova_docker_floor`` mechanism driver after ``openvswitch`` (see
nova_docker/aio/floor_binding.py), and on exit restarts them with the
all-in-one's own ML2 configuration again.
"""

import calendar
import os
import subprocess
import time

from nova_docker.aio import bootstrap
from nova_docker.aio import cloud
from nova_docker.aio import configs
from nova_docker.aio import floor_binding
from nova_docker.aio import services

FLOOR_HOST = 'nova-docker-aio-floor'
SERVICE = 'nova-compute-floor'
NEUTRON_SERVER = ('neutron-api', 'neutron-rpc-server')


class FloorCompute(object):

    def __init__(self, layout):
        self.layout = layout
        self.host = FLOOR_HOST
        self.zone = 'nova:' + FLOOR_HOST

    def __enter__(self):
        conf = self._write_conf()
        started = time.time()
        services.start(self.layout, SERVICE,
                       [self.layout.bin('nova-compute'), '--config-file',
                        conf], env=configs.service_env(self.layout))
        self._wait(lambda: self._service_up(started), 180,
                   'the floor nova-compute did not report')
        found = subprocess.run(
            [self.layout.bin('nova-manage'), '--config-file',
             configs.conf(self.layout, 'nova'), 'cell_v2', 'discover_hosts'],
            capture_output=True, text=True)
        if found.returncode:
            raise SystemExit('nova-manage cell_v2 discover_hosts failed: '
                             + found.stderr)
        self._wait(self._hypervisor_listed, 60,
                   'the floor host is not in the cell')
        return self

    def __exit__(self, *exc):
        services.stop(self.layout, [SERVICE])
        client = bootstrap.admin_client(self.layout)
        nova = client.endpoint('compute')
        for service in self._services():
            client.call('DELETE', nova + '/os-services/' + service['id'],
                        headers={'OpenStack-API-Version': 'compute 2.53'})

    def _write_conf(self):
        sections = configs.nova_compute(self.layout)
        state = self.layout.path('nova-floor')
        os.makedirs(os.path.join(state, 'lock'), exist_ok=True)
        # FakeDriver, not SmallFakeDriver: its inventory (1000 vCPUs) never
        # runs out during a run, whatever -n is.
        sections['DEFAULT'] = dict(
            sections['DEFAULT'], host=FLOOR_HOST,
            compute_driver='fake.FakeDriver', state_path=state,
            instances_path=os.path.join(state, 'instances'))
        sections['oslo_concurrency'] = {
            'lock_path': os.path.join(state, 'lock')}
        path = configs.conf(self.layout, 'nova', 'nova-floor.conf')
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, 'w') as f:
            f.write(configs.render(sections))
        return path

    def _services(self):
        client = bootstrap.admin_client(self.layout)
        return client.call(
            'GET', client.endpoint('compute') + '/os-services?host='
            + FLOOR_HOST + '&binary=nova-compute',
            headers={'OpenStack-API-Version': 'compute 2.53'})['services']

    def _service_up(self, since):
        return any(s['state'] == 'up' and s['updated_at']
                   and _utc(s['updated_at']) >= int(since)
                   for s in self._services())

    def _hypervisor_listed(self):
        client = bootstrap.admin_client(self.layout)
        found = client.call('GET', client.endpoint('compute')
                            + '/os-hypervisors?hypervisor_hostname_pattern='
                            + FLOOR_HOST, headers={
                                'OpenStack-API-Version': 'compute 2.53'})
        return bool(found['hypervisors'])

    def _wait(self, condition, timeout, what):
        _wait(condition, timeout, what, self.layout.log(SERVICE))


class PortBinding(object):
    """Neutron binds the floor host's ports while this is entered."""

    def __init__(self, layout):
        self.layout = layout

    def __enter__(self):
        sections = configs.ml2(self.layout)
        sections['ml2'] = dict(sections['ml2'], mechanism_drivers=(
            sections['ml2']['mechanism_drivers'] + ',' + floor_binding.NAME))
        self._restart_neutron(sections)
        return self

    def __exit__(self, *exc):
        self._restart_neutron(configs.ml2(self.layout))

    def _restart_neutron(self, ml2_sections):
        path = configs.conf(self.layout, 'neutron', configs.ML2_CONF)
        with open(path, 'w') as f:
            f.write(configs.render(ml2_sections))
        services.stop(self.layout, NEUTRON_SERVER)
        started = time.time()
        cloud.start_api(self.layout, 'neutron-api')
        cloud.start_neutron_daemon(self.layout, 'neutron-rpc-server')
        cloud.wait_api(self.layout, 'neutron-api')
        # The agent's next state report reaching the new RPC server shows
        # it serves the agent again (reports come every 30 s).
        _wait(lambda: self._agent_reported(started), 120,
              'the Open vSwitch agent did not report to the new Neutron',
              self.layout.log('neutron-rpc-server'))

    def _agent_reported(self, since):
        client = bootstrap.admin_client(self.layout)
        agents = client.call('GET', client.endpoint('network') + (
            '/v2.0/agents?binary=neutron-openvswitch-agent&host='
            + self.layout.compute_host))['agents']
        return any(a['alive'] and _utc(a['heartbeat_timestamp']) >= since
                   for a in agents)


def _utc(stamp):
    """Nova's and Neutron's timestamps (UTC, to the second) as epoch."""
    return calendar.timegm(time.strptime(stamp[:19].replace('T', ' '),
                                         '%Y-%m-%d %H:%M:%S'))


def _wait(condition, timeout, what, log):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except Exception:   # noqa: B902 - the API may not answer yet
            pass
        time.sleep(1)
    raise SystemExit('%s within %d s (log: %s)' % (what, timeout, log))
