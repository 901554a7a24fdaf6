"""The control plane's own floor for boot timings: a second nova-compute on
the all-in-one running Nova's fake driver (everything but this driver).

``FloorCompute`` starts it with its own host name, state_path and
lock_path, maps it into the cell, and on exit stops it and deletes its
service record (and so its resource provider), leaving the cloud as it
was. Servers reach it through ``availability_zone = nova:<host>`` (admin).
"""

import calendar
import os
import subprocess
import time

from nova_docker.aio import bootstrap
from nova_docker.aio import configs
from nova_docker.aio import services

FLOOR_HOST = 'nova-docker-aio-floor'
SERVICE = 'nova-compute-floor'


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
        subprocess.run([self.layout.bin('nova-manage'), '--config-file',
                        configs.conf(self.layout, 'nova'), 'cell_v2',
                        'discover_hosts'], check=True,
                       stdout=subprocess.DEVNULL)
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
        sections['DEFAULT'] = dict(
            sections['DEFAULT'], host=FLOOR_HOST,
            compute_driver='fake.SmallFakeDriver', state_path=state,
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
        # Nova's timestamps are UTC, to the second.
        return any(s['state'] == 'up' and s['updated_at'] and calendar.timegm(
            time.strptime(s['updated_at'][:19], '%Y-%m-%dT%H:%M:%S'))
            >= int(since) for s in self._services())

    def _hypervisor_listed(self):
        client = bootstrap.admin_client(self.layout)
        found = client.call('GET', client.endpoint('compute')
                            + '/os-hypervisors?hypervisor_hostname_pattern='
                            + FLOOR_HOST, headers={
                                'OpenStack-API-Version': 'compute 2.53'})
        return bool(found['hypervisors'])

    def _wait(self, condition, timeout, what):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if condition():
                    return
            except Exception:   # noqa: B902 - the API may not answer yet
                pass
            time.sleep(1)
        raise SystemExit('%s within %d s (log: %s)' % (
            what, timeout, self.layout.log(SERVICE)))
