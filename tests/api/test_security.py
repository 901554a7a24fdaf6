"""Hostile tenants through Nova's API: whatever a tenant uploads, names or
sets, it gets a fault it can act on (the server in ERROR with the
driver's own words, not a reschedule's "no valid host") or its own
isolated server; nothing is left behind and no tag the host trusts
moves."""

from nova_docker import host
from nova_docker import naming
from tests.api import base
from tests import archives
from tests import support


class HostileArchiveTest(base.BadInputTestCase):

    def _setup_compute_service(self):
        # The driver reads its limits when it starts: a 1 GiB expansion
        # limit lets the bomb below be refused at its first header.
        self.flags(image_max_mb=1024, group='docker')
        return super()._setup_compute_service()

    def test_gzip_bomb(self):
        # 10 MiB that expand to 10 GiB, past the limit: refused at the
        # header that says so, before anything is decompressed.
        image_id = self.create_docker_image(data=archives.gzip_bomb())
        self.assert_fault(image_id, ['expands to more than 1024 MiB',
                                     'image_max_mb'])

    def test_a_million_headers(self):
        image_id = self.create_docker_image(data=archives.many_headers())
        self.assert_fault(image_id, ['more than 10000 files',
                                     'image_max_files'])

    def test_50_mb_manifest(self):
        image_id = self.create_docker_image(data=archives.variant(
            manifest=lambda entry: b' ' * (50 * 1024 * 1024) +
            b'[]'))
        self.assert_fault(image_id, ['manifest.json in the archive is',
                                     'image_max_json_bytes'])

    def test_manifest_of_wrong_types(self):
        def layers_as_string(entry):
            entry[0]['Layers'] = entry[0]['Layers'][0]
            return entry
        image_id = self.create_docker_image(
            data=archives.variant(manifest=layers_as_string))
        self.assert_fault(image_id, ['"Layers" is not a list'])

    def test_malformed_json(self):
        image_id = self.create_docker_image(data=archives.variant(
            manifest=lambda entry: b'[{"Config": '))
        self.assert_fault(image_id, ['manifest.json', 'not valid JSON'])

    def test_dangling_symlink_layer(self):
        layer = archives.layer_name()
        image_id = self.create_docker_image(data=archives.variant(
            drop=(layer,), links={layer: 'nowhere.tar'}))
        self.assert_fault(image_id, ['is a link to', 'nowhere.tar'])

    def test_symlink_out_of_the_archive(self):
        image_id = self.create_docker_image(data=archives.variant(
            links={'escape': '../../etc/shadow'}))
        self.assert_fault(image_id, ['escape', 'not in the archive'])

    def test_duplicate_member(self):
        image_id = self.create_docker_image(data=archives.variant(
            files={'manifest.json': b'[]'}))
        self.assert_fault(image_id, ['holds manifest.json twice'])

    def test_huge_env(self):
        image_id = self.create_docker_image(data=archives.variant(
            config=lambda c: c['config']['Env'].append(
                'BIG=' + 'x' * 200 * 1024)))
        self.assert_fault(image_id, ['Env is larger than 128 KiB'])

    def test_image_user_that_does_not_exist(self):
        image_id = self.create_docker_image(data=archives.variant(
            config=lambda c: c['config'].update(User='nosuchuser')))
        self.assert_fault(image_id, ['could not start the workload',
                                     'nosuchuser'])

    def test_capability_a_flavor_may_not_grant(self):
        image_id = self.create_docker_image()
        flavor_id = self.create_flavor(
            extra_specs={'docker:cap_add': 'SYS_ADMIN'})
        self.assert_fault(image_id, ['asks for SYS_ADMIN',
                                     'does not grant'],
                          flavor_id=flavor_id)

    def test_root_disk_refused_where_not_enforceable(self):
        if host.facts(self.docker.info()).root_disk_quota:
            self.skipTest('this engine enforces root disk sizes')
        self.flags(root_disk_unenforced='refuse', group='docker')
        image_id = self.create_docker_image()
        self.assert_fault(image_id, ['1 GB root disk', 'cannot enforce'],
                          flavor_id=self.create_flavor(disk=1))


class TenantImageTest(base.DockerAPITestCase):
    """Images a tenant may upload: they run, isolated, and never touch
    what the host trusts."""

    def test_repo_tags_of_host_and_driver_images_are_not_applied(self):
        host_image = support.host_image(self.docker)
        infra = self.docker.images.list(name=naming.INFRA_REPOSITORY)[0]
        claimed = [support.HOST_IMAGE, infra.tags[0]]

        def claim(entry):
            entry[0]['RepoTags'] = claimed
            return entry
        image_id = self.create_docker_image(data=archives.variant(
            manifest=claim,
            config=lambda c: c['config']['Env'].append('TENANT=1')))
        server = self.boot(image_id)

        self.assertEqual([host_image, infra.id],
                         [self.docker.images.get(t).id for t in claimed])
        loaded = self.docker.images.list(
            name=naming.IMAGE_REPOSITORY + image_id)[0]
        self.assertNotIn(loaded.id, (host_image, infra.id))
        # Created from the verified image id, not from a tag.
        self.assertEqual(loaded.id, self.container(server)['Image'])
        # (Podman's Config names the image by the driver's own tag.)
        self.assertIn(self.container(server)['Config']['Image'],
                      [loaded.id] + loaded.tags if support.on_podman()
                      else [loaded.id])

    def test_volumes_capabilities_and_snapshot_labels(self):
        image_id = self.create_docker_image(data=archives.variant(
            config=lambda c: c['config'].update(Volumes={'/data': {}})))
        server = self.boot(image_id)
        container = self.container(server)
        volumes = [m['Name'] for m in container['Mounts']
                   if m['Type'] == 'volume']
        self.assertEqual(1, len(volumes))

        # Least capabilities: no device nodes, no raw sockets.
        # Docker records the drop as asked (ALL), Podman as the capabilities
        # of its default set it dropped.
        cap_drop = container['HostConfig']['CapDrop']
        if not support.on_podman():
            self.assertEqual(['ALL'], cap_drop)
        for dropped in ('NET_RAW', 'MKNOD', 'SETFCAP', 'AUDIT_WRITE'):
            self.assertTrue('ALL' in cap_drop or dropped in cap_drop)
            self.assertNotIn(dropped, container['HostConfig']['CapAdd'])
        result = self.docker.containers.get(container['Id']).exec_run(
            ['sh', '-c', 'mknod /tmp/null c 1 3'])
        self.assertNotEqual(0, result.exit_code)

        # A snapshot carries no driver labels to Glance.
        snapshot_id = self.api.post_server_action(
            server['id'], {'createImage': {'name': 'snap'}})['image_id']
        self._wait_for_server_parameter(
            server, {'OS-EXT-STS:task_state': None}, max_retries=60)
        clone = self.boot(snapshot_id)
        labels = self.docker.images.get(self.container(clone)['Image']
                                        ).labels or {}
        for label in naming.DRIVER_LABELS:
            self.assertEqual('', labels.get(label, ''))

        # The image's anonymous volume goes with the server.
        self._delete_server(server)
        self.assertEqual([], [v for v in volumes if self._volume(v)])

    def _volume(self, name):
        try:
            return self.docker.volumes.get(name)
        except Exception:
            return None


class RegistryTrustTest(base.DockerAPITestCase):

    def _setup_compute_service(self):
        # The operator allows any registry: the driver's own repositories
        # must still be out of reach.
        self.registry = support.test_registry()
        self.flags(allowed_registries=['*'], group='docker')
        return super()._setup_compute_service()

    def test_docker_image_naming_driver_repositories(self):
        for reference in ('nova-glance/%s:abc' % ('0' * 36),
                          'docker.io/nova-docker/infra:1',
                          self.registry + '/nova-snapshot/x:latest'):
            image_id = self.create_docker_image(data=b'',
                                                docker_image=reference)
            server = self.boot(image_id, expected_state='ERROR')
            self.assertIn('reserved for the driver',
                          server['fault']['message'])
            self.assert_no_container(server)

    def test_digest_reference(self):
        # Asked of the registry (Podman serves no distribution inspect).
        digest = support.registry_digest('ndtest/busybox', '1')
        reference = self.registry + '/ndtest/busybox@' + digest
        image_id = self.create_docker_image(data=b'',
                                            docker_image=reference)
        server = self.boot(image_id)
        self.assertEqual('running', self.container_status(server))
