"""Evacuate between two compute hosts, each with its own engine."""

import os

from nova import objects

from nova_docker import configdrive
from nova_docker import naming
from nova_docker import netplan
from tests.api import base
from tests.api import test_network


class EvacuateTest(base.TwoEnginesTestCase):

    def test_evacuate_rebuilds_on_the_other_engine(self):
        image_id = self.create_docker_image()
        server = self._build_server(image_uuid=image_id,
                                    flavor_id=self.create_flavor(),
                                    networks='none', host=self.host)
        server = self._wait_for_state_change(
            self.api.post_server({'server': server}), 'ACTIVE')
        name = naming.container_name(server['id'])
        self.assertEqual('running', self.docker.api.inspect_container(
            name)['State']['Status'])

        self.compute.stop()
        service_id = self.api.get_services(
            host=self.host, binary='nova-compute')[0]['id']
        self.api.put_service_force_down(service_id, True)
        server = self._evacuate_server(server, expected_host=self.host2)
        server = self._start_server(server)

        container = self.second_docker.api.inspect_container(name)
        self.assertEqual('running', container['State']['Status'])
        self.assertEqual(self.host2, container['Config']['Labels'][
            naming.COMPUTE_HOST])

        # The first host, back up, removes what the evacuation left there.
        self.flags(api_url=self.first_url, group='docker')
        self.compute = self.restart_compute_service(
            self.compute, keep_hypervisor_state=False)
        self.api.put_service_force_down(service_id, False)
        self.assertEqual([], self.docker.containers.list(
            all=True, filters={'name': name}))


class EvacuateWithPortsTest(test_network.NetworkTestBase,
                            base.TwoEnginesTestCase):
    """Both compute hosts plug into the test's one bridge and share this
    machine's network namespace and instances_path, as two hosts sharing
    a switch and an NFS export would: what the first host removes when it
    comes back must be only what it left there."""

    def test_networked_server_evacuates_and_the_old_host_cleans_up(self):
        port_a, a4, a6 = self.make_port()
        port_b, b4, _b6 = self.make_port()
        moving, staying = (
            self._wait_for_state_change(self.api.post_server({
                'server': dict(self._build_server(
                    image_uuid=self.image_id, flavor_id=self.flavor_id,
                    networks=[{'port': port}], host=host),
                    config_drive=True)}), 'ACTIVE')
            for port, host in ((port_a, self.host), (port_b, self.host2)))
        addresses = moving['addresses']

        self.compute.stop()
        service_id = self.api.get_services(
            host=self.host, binary='nova-compute')[0]['id']
        self.api.put_service_force_down(service_id, True)
        # Before 2.95 an evacuated server keeps running (after, it stops).
        self.api.microversion = '2.94'
        moving = self._evacuate_server(moving, expected_host=self.host2,
                                       expected_state='ACTIVE')
        self.api.microversion = 'latest'
        self.assertEqual(addresses, moving['addresses'])
        self.assert_runs_and_pings_on_host2(moving, a4, a6, b4)
        left = self.docker.containers.list(all=True, filters={
            'label': '%s=%s' % (naming.INFRA_FOR, moving['id'])})
        self.assertEqual(1, len(left))      # the first host was down

        # The first host, back up, removes what it left: containers and
        # namespace; the port and config drive the server now uses stay.
        self.flags(api_url=self.first_url, group='docker')
        self.compute = self.restart_compute_service(
            self.compute, keep_hypervisor_state=False)
        self.api.put_service_force_down(service_id, False)
        self.assert_no_container(moving)
        self.assertEqual(sorted([netplan.host_dev(port_a),
                                 netplan.host_dev(port_b)]),
                         sorted(self.ovs.ports()))
        self.assert_runs_and_pings_on_host2(moving, a4, a6, b4)

        self._delete_server(moving)
        self._delete_server(staying)
        self.assertEqual([], self.second_docker.containers.list(
            all=True, filters={'label': '%s=%s' % (naming.INFRA_FOR,
                                                   moving['id'])}))
        self.assertFalse(os.path.exists(configdrive.host_dir(
            objects.Instance(uuid=moving['id']))))
        self.assert_no_host_devices(port_a, port_b)

    def assert_runs_and_pings_on_host2(self, server, v4, v6, peer):
        container = self.second_docker.containers.get(
            naming.container_name(server['id']))
        self.assertEqual('running', container.status)
        self.assertEqual(self.host2, container.labels[naming.COMPUTE_HOST])
        code, addrs = container.exec_run(['ip', 'addr'])
        self.assertIn('%s/24' % v4, addrs.decode())
        self.assertIn('%s/64' % v6, addrs.decode())
        code, meta = container.exec_run(
            ['cat', configdrive.MOUNT_PATH +
             '/openstack/latest/meta_data.json'])
        self.assertEqual(0, code, meta)
        self.assertIn(server['id'], meta.decode())
        for _ in range(3):
            code, output = container.exec_run(
                ['ping', '-c', '2', '-W', '3', peer])
            if code == 0:
                break
        self.assertEqual(0, code, output)
