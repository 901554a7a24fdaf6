"""Nova's REST API and compute manager driving this driver on the real
engine, through Nova's own functional fixtures (_IntegratedTestBase)."""

import io
import os
import sys
import tempfile
import uuid

from nova import context as nova_context
from nova.tests.functional import integrated_helpers
from oslo_config import cfg

from nova_docker import conf  # noqa: F401  (registers [docker])
from nova_docker import naming
from nova_docker import privsep
from tests import netsupport
from tests import support
from vif_plug_ovs import ovs as vif_plug_ovs_ovs
from vif_plug_ovs import privsep as vif_plug_ovs_privsep

API_PASTE = os.path.join(sys.prefix, 'etc', 'nova', 'api-paste.ini')

# os-vif's OVS plugin reads its ovsdb connection once, when os-vif loads it
# (the first driver of this process): point it at the local ovsdb-server
# before any test runs.
cfg.CONF.register_opts(vif_plug_ovs_ovs.OvsPlugin.CONFIG_OPTS,
                       group='os_vif_ovs')
cfg.CONF.set_default('ovsdb_connection', 'unix:' + netsupport.OVSDB_SOCKET,
                     group='os_vif_ovs')


class DockerAPITestCase(integrated_helpers._IntegratedTestBase):
    """A cloud with one nova-compute running novadocker.DockerDriver on a
    compute host name of its own, its containers removed afterwards."""

    ADMIN_API = True
    microversion = 'latest'
    # URL of the engine this compute host uses: the shared one (None:
    # /var/run/docker.sock; in the podman suite its Podman) unless a test
    # gives it one of its own (support.OwnEngine) before setUp.
    engine_url = None

    def setUp(self):
        self.host = support.unique_host()
        if self.engine_url is None:
            self.engine_url = support.default_engine_url()
        self.docker = support.engine_client(self.engine_url)
        # A test meant for Podman that silently ran on Docker (or the
        # reverse) would prove nothing.
        self.assertEqual(support.on_podman(), support.is_podman(self.docker))
        self.engine_cleanup = support.EngineCleanup(self.docker, self.host)
        super().setUp()
        self.useFixture(self.engine_cleanup)
        self._keep_uploaded_image_data()
        # The driver's and os-vif's privileged functions, in helpers.
        self.useFixture(netsupport.PrivsepHelpers(
            privsep.net_admin, privsep.fs_admin,
            vif_plug_ovs_privsep.vif_plug))

    def _keep_uploaded_image_data(self):
        """Nova's GlanceFixture drops data given to update(); a snapshot
        uploads that way, so keep it (as Glance would) for booting."""
        fixture_update = self.glance.update

        def update(context, image_id, metadata, data=None, **kw):
            image = fixture_update(context, image_id, metadata, **kw)
            if data is not None:
                self.glance._imagedata[image_id] = data.read()
                self.engine_cleanup.image_ids.append(image_id)
            return image
        self.stub_out('nova.tests.fixtures.GlanceFixture.update',
                      lambda _self, *a, **kw: update(*a, **kw))

    def _setup_services(self):
        self.flags(compute_driver='novadocker.DockerDriver')
        if self.engine_url:
            self.flags(api_url=self.engine_url, group='docker')
        self.flags(api_paste_config=API_PASTE, group='wsgi')
        # As nova.conf says it, in every test: Nova's config fixture resets
        # the default above, and the driver's one switch client per process
        # (nova_docker/network.py) keeps the connection of the test that
        # made it.
        self.flags(ovsdb_connection='unix:' + netsupport.OVSDB_SOCKET,
                   group='os_vif_ovs')
        # Spawn's settle check is part of what is tested: give busy CI
        # machines a margin.
        self.flags(spawn_settle_seconds=0.2, group='docker')
        # Nova's config fixture sets 0: a stopping compute service then
        # runs the driver's cleanup_host in a thread it does not wait for,
        # whose end (Nova shuts down every thread pool of the process)
        # could land in the next test. As in production, wait for it (20 s
        # are all cleanup_host's: no wait for tasks in progress).
        self.flags(manager_shutdown_timeout=20)
        super()._setup_services()

    def _setup_compute_service(self):
        return self._start_compute(self.host)

    def _wait_for_state_change(self, server, expected_status,
                               max_retries=120, **kw):
        # Nova's default (10 tries, 5 s) is short for loading an image,
        # creating the infra container and plugging ports on a busy 2-core
        # machine shared by parallel tests.
        return super()._wait_for_state_change(
            server, expected_status, max_retries=max_retries, **kw)

    # -- images -----------------------------------------------------------

    def create_docker_image(self, archive='busybox', data=None, **props):
        """A Glance image holding a docker save archive; returns its id."""
        meta = {'name': 'docker-' + archive, 'container_format': 'docker',
                'disk_format': 'raw', 'status': 'active',
                'properties': props}
        if data is None:
            data = support.archive_bytes(archive)
        image = self.glance.create(nova_context.get_admin_context(), meta,
                                   data=io.BytesIO(data))
        self.engine_cleanup.image_ids.append(image['id'])
        return image['id']

    # -- flavors ----------------------------------------------------------

    def create_flavor(self, memory_mb=64, vcpus=1, disk=0, extra_specs=None):
        return self._create_flavor(memory_mb=memory_mb, vcpu=vcpus, disk=disk,
                                   ephemeral=0, name=support.unique_host(),
                                   extra_spec=extra_specs)

    # -- servers ----------------------------------------------------------

    def boot(self, image_id, flavor_id=None, expected_state='ACTIVE'):
        server = self._build_server(
            image_uuid=image_id, flavor_id=flavor_id or self.create_flavor(),
            networks='none')
        server = self.api.post_server({'server': server})
        return self._wait_for_state_change(server, expected_state)

    def container(self, server):
        """The engine's record of the server's container."""
        return self.docker.api.inspect_container(
            naming.container_name(server['id']))

    def exec_in(self, server, *command):
        """Run a command in the server's container; returns its output."""
        code, output = support.run_in(self.docker, server['id'], *command)
        self.assertEqual(0, code, output)
        return output

    def started_at(self, server):
        """When the container last started, as a value that sorts by time
        (the engine drops trailing zeros of the nanoseconds)."""
        return support.started_at(self.container(server))

    def container_status(self, server):
        return self.container(server)['State']['Status']

    def assert_no_container(self, server):
        """Neither the workload nor its infra container is left."""
        for label in (naming.INSTANCE_UUID, naming.INFRA_FOR):
            self.assertEqual([], self.docker.containers.list(
                all=True, filters={'label': '%s=%s' % (label, server['id'])}))

    def assert_no_image_tag(self, image_id):
        self.assertEqual([], self.docker.images.list(
            name=naming.IMAGE_REPOSITORY + image_id))


class BadInputTestCase(DockerAPITestCase):
    """Boots that must fail: the server in ERROR with the driver's words,
    nothing left on the engine or in the staging directory."""

    def setUp(self):
        super().setUp()
        self.staging = tempfile.mkdtemp()
        self.addCleanup(os.rmdir, self.staging)
        self.flags(image_staging_dir=self.staging, group='docker')

    def assert_fault(self, image_id, words, flavor_id=None):
        """Boot image_id; the fault holds each of words. Its message."""
        server = self.boot(image_id, flavor_id, expected_state='ERROR')
        message = server['fault']['message']
        for word in words:
            self.assertIn(word, message)
        self.assert_no_container(server)
        self.assert_no_image_tag(image_id)
        self.assertEqual([], os.listdir(self.staging))
        return message


class TwoEnginesTestCase(DockerAPITestCase):
    """Two compute hosts, each with its own engine: ``self.host`` on the
    shared engine, ``self.host2`` on the test command's second engine."""

    def setUp(self):
        # Two computes in one process would share Nova's one local node
        # identity; real hosts each have their own.
        self.stub_out('nova_docker.driver.DockerDriver._node_uuid',
                      lambda drv: str(uuid.uuid5(uuid.NAMESPACE_DNS,
                                                 drv._host)))
        super().setUp()
        self.first_url = cfg.CONF.docker.api_url
        self.second_url = self.second_engine_url()
        self.second_docker = support.engine_client(self.second_url)
        self.host2 = support.unique_host()
        self.flags(api_url=self.second_url, group='docker')
        self.compute2 = self._start_compute(self.host2)
        second = self.useFixture(support.EngineCleanup(self.second_docker,
                                                       self.host2))
        second.image_ids = self.engine_cleanup.image_ids

    def second_engine_url(self):
        """The second host's engine: the test command's second engine,
        unless a test needs one of its own."""
        return support.second_engine_url()
