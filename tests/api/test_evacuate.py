"""Evacuate between two compute hosts, each with its own engine."""

from nova_docker import naming
from tests.api import base


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
