"""Bad inputs to spawn: each fails with the Nova exception the compute
manager turns into an instance fault, says what is wrong, and leaves
nothing behind: no container, no nova-glance/<id> tag, no staging file,
the host's own tags as they were."""

import io
import json
import tarfile
import uuid

from nova import exception as nova_exception
from nova.virt import virtapi

from nova_docker import driver as driver_mod
from nova_docker import engine
from nova_docker import exception
from nova_docker import naming
from tests.functional import base
from tests import support


def two_image_archive():
    """What ``docker save ndtest/busybox ndtest/nocmd`` writes: both
    images' files, one manifest.json listing both, one repositories."""
    out = io.BytesIO()
    manifest, repositories, seen = [], {}, set()
    with tarfile.open(fileobj=out, mode='w') as merged:
        for name in ('busybox', 'nocmd'):
            with tarfile.open(support.archive_path(name)) as tar:
                for member in tar:
                    if member.name == 'manifest.json':
                        manifest += json.load(tar.extractfile(member))
                    elif member.name == 'repositories':
                        repositories.update(json.load(tar.extractfile(member)))
                    elif member.name not in seen:
                        seen.add(member.name)
                        merged.addfile(member, tar.extractfile(member)
                                       if member.isfile() else None)
        for name, value in (('manifest.json', manifest),
                            ('repositories', repositories)):
            data = json.dumps(value).encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            merged.addfile(info, io.BytesIO(data))
    return out.getvalue()


class BadInputTest(base.DriverTestCase):

    def spawn_fails(self, expected, image=None, instance=None):
        """Spawn, expecting ``expected``; check that nothing is left.
        Returns the fault message Nova would record."""
        image = image or self.create_image()
        instance = instance or self.make_instance()
        e = self.assertRaises(expected, self.spawn, instance, image)
        self.assert_nothing_left(instance, image.id)
        self.assertEqual([], self.driver.list_instance_uuids())
        return e.format_message()

    # -- Glance data ---------------------------------------------------------

    def test_data_that_is_not_a_tar(self):
        message = self.spawn_fails(
            nova_exception.ImageUnacceptable,
            self.create_image(data=b'this is no tar archive\n' * 200))
        self.assertIn('not a tar archive made by docker save', message)

    def test_empty_data(self):
        message = self.spawn_fails(nova_exception.ImageUnacceptable,
                                   self.create_image(data=b''))
        self.assertIn('no data', message)

    def test_tar_that_is_not_a_docker_archive(self):
        data = support.tar_bytes({'etc/hello.txt': b'hello\n'})
        message = self.spawn_fails(nova_exception.ImageUnacceptable,
                                   self.create_image(data=data))
        self.assertIn('not a docker image archive (no manifest.json)',
                      message)
        self.assertIn('docker save', message)

    def test_archive_with_two_images(self):
        message = self.spawn_fails(
            nova_exception.ImageUnacceptable,
            self.create_image(data=two_image_archive()))
        self.assertIn('holds 2 images', message)
        self.assertIn('exactly one', message)

    def test_truncated_archive(self):
        data = support.archive_bytes('busybox')
        message = self.spawn_fails(
            nova_exception.ImageUnacceptable,
            self.create_image(data=data[:len(data) // 2]))
        self.assertIn('truncated', message)

    def test_archive_whose_config_is_misnamed(self):
        # The manifest names the image config by a digest that is not its
        # content's: the engine loads the image under its real id, and the
        # driver tags what the engine loaded, so the server still boots.
        label = str(uuid.uuid4())
        self.addCleanup(self.remove_images_labelled, label)
        data = base.rewrite_archive(
            support.archive_bytes('busybox'), repo_tags=[],
            config_changes={'Labels': {'ndtest-functional': label}},
            config_name='ab' * 32)
        image = self.create_image(data=data)
        instance = self.make_instance()
        self.spawn(instance, image)
        loaded = [found.id for found in self.images_labelled(label)]
        self.assertEqual(1, len(loaded))
        self.assertEqual(loaded[0], self.docker.api.inspect_container(
            naming.container_name(instance.uuid))['Image'])
        self.driver.destroy(None, instance, None)

    def images_labelled(self, label):
        return self.docker.images.list(
            all=True, filters={'label': 'ndtest-functional=' + label})

    def remove_images_labelled(self, label):
        for image in self.images_labelled(label):
            self.docker.images.remove(image.id)

    def test_checksum_mismatch(self):
        image = self.create_image(checksum='0' * 32)
        message = self.spawn_fails(nova_exception.ImageUnacceptable, image)
        self.assertIn(image.id, message)
        self.assertIn('does not match its md5 checksum', message)

    def test_os_hash_mismatch(self):
        data = support.archive_bytes('busybox')
        image = self.create_image(data=data)
        self.glance.update(self.context, image.id, {
            'os_hash_algo': 'sha512', 'os_hash_value': 'f' * 128})
        message = self.spawn_fails(nova_exception.ImageUnacceptable, image)
        self.assertIn('does not match its sha512 checksum', message)

    def test_image_without_a_command(self):
        data = support.archive_bytes('nocmd')
        host_tags = self.archive_tags(data)   # ndtest/nocmd:latest
        message = self.spawn_fails(nova_exception.ImageUnacceptable,
                                   self.create_image(data=data))
        self.assertIn('no command', message)
        self.assertIn('os_command_line', message)
        self.assert_archive_tags_kept(data, host_tags)

    def test_image_without_a_command_runs_with_os_command_line(self):
        data = support.archive_bytes('nocmd')
        host_tags = self.archive_tags(data)
        image = self.create_image(
            data=data, os_command_line='sh -c "echo fixed; exec sleep 1000"')
        instance = self.spawn(image_meta=image)
        self.assertEqual('running', self.status(instance))
        self.assert_archive_tags_kept(data, host_tags)

    def test_os_command_line_that_cannot_be_parsed(self):
        message = self.spawn_fails(
            nova_exception.ImageUnacceptable,
            self.create_image(os_command_line='sh -c "unterminated'))
        self.assertIn('os_command_line', message)

    def test_container_format_bare(self):
        downloads = self.count_downloads()
        image = self.create_image(container_format='bare')
        message = self.spawn_fails(nova_exception.ImageUnacceptable, image)
        self.assertIn('container_format is bare', message)
        self.assertIn('container_format=docker', message)
        self.assertEqual([], downloads)

    # -- the workload --------------------------------------------------------

    def test_workload_that_exits_at_once(self):
        # Room for a loaded machine to see the exit within the settle time.
        self.flags(spawn_settle_seconds=1.0, group='docker')
        image = self.create_image(
            os_command_line='sh -c "echo broken; exit 3"')
        instance = self.make_instance()
        message = self.spawn_fails(exception.WorkloadExited, image, instance)
        self.assertIn('exited at once with code 3', message)
        self.assertIn('broken', message)
        self.assertIn(instance.uuid, message)

    # -- the flavor ----------------------------------------------------------

    def test_flavor_with_4_mb_of_ram(self):
        message = self.spawn_fails(
            nova_exception.FlavorMemoryTooSmall,
            instance=self.make_instance(memory_mb=4, flavor_name='m1.tiny4'))
        self.assertIn('m1.tiny4 has 4 MB', message)
        self.assertIn('at least 6 MB', message)

    def test_non_numeric_quota_extra_spec(self):
        message = self.spawn_fails(
            nova_exception.InvalidInput,
            instance=self.make_instance(
                extra_specs={'quota:cpu_shares': 'lots'}))
        self.assertIn("quota:cpu_shares='lots' is not an integer", message)

    def test_non_numeric_disk_quota_extra_spec(self):
        message = self.spawn_fails(
            nova_exception.InvalidInput,
            instance=self.make_instance(
                extra_specs={'quota:disk_read_bytes_sec': '10M'}))
        self.assertIn('quota:disk_read_bytes_sec', message)

    def test_cpu_period_out_of_range(self):
        message = self.spawn_fails(
            nova_exception.InvalidInput,
            instance=self.make_instance(
                extra_specs={'quota:cpu_period': '10'}))
        self.assertIn('quota:cpu_period=10', message)

    def test_bad_flavor_keeps_an_image_other_instances_use(self):
        image = self.create_image()
        running = self.spawn(image_meta=image)
        bad = self.make_instance(memory_mb=4)
        self.assertRaises(nova_exception.FlavorMemoryTooSmall, self.spawn,
                          bad, image)
        self.assertEqual([], self.containers_of(bad))
        self.assertEqual(1, len(self.image_tags(image.id)))
        self.assertEqual('running', self.status(running))

    def test_a_good_spawn_after_a_failed_one(self):
        downloads = self.count_downloads()
        image = self.create_image()
        self.spawn_fails(nova_exception.FlavorMemoryTooSmall, image,
                         self.make_instance(memory_mb=4))
        instance = self.spawn(image_meta=image)
        self.assertEqual('running', self.status(instance))
        self.assertEqual([image.id, image.id], downloads)

    # -- the engine ----------------------------------------------------------

    def driver_with_engine_gone(self):
        """A driver of this host whose engine is a socket nobody listens
        on (a real connection failure), and that socket's URL."""
        url = 'unix:///tmp/nobody-%s.sock' % uuid.uuid4()
        driver = driver_mod.DockerDriver(virtapi.VirtAPI(),
                                         engine=engine.Engine(url))
        driver.init_host(self.host)
        self.addCleanup(driver.cleanup_host, self.host)
        e = self.assertRaises(exception.EngineUnavailable,
                              driver.get_available_resource, self.host)
        self.assertIn(url, e.format_message())
        return driver, url

    def test_engine_unreachable_during_spawn(self):
        self.driver, url = self.driver_with_engine_gone()
        # Aborted with a fault naming the engine, not rescheduled.
        e = self.assertRaises(nova_exception.BuildAbortException, self.spawn)
        self.assertIn(url, e.format_message())
        self.assertEqual([], self.engine_cleanup.containers())
        self.assertEqual([], self.engine_cleanup.image_refs())

    def test_engine_unreachable_for_a_loaded_image(self):
        image = self.create_image()
        self.spawn(image_meta=image)
        self.driver, url = self.driver_with_engine_gone()
        instance = self.make_instance()
        e = self.assertRaises(nova_exception.BuildAbortException, self.spawn,
                              instance, image)
        self.assertIn(url, e.format_message())
        self.assertEqual([], self.containers_of(instance))
        # The first instance's container only.
        self.assertEqual(1, len(self.engine_cleanup.containers()))

    def test_engine_unreachable_for_other_operations(self):
        instance = self.spawn()
        self.driver, url = self.driver_with_engine_gone()
        for call in (
                lambda: self.driver.get_info(instance, use_cache=False),
                lambda: self.driver.list_instance_uuids(),
                lambda: self.driver.power_off(instance, timeout=0),
                lambda: self.driver.get_available_resource(self.host)):
            e = self.assertRaises(exception.EngineUnavailable, call)
            self.assertIn(url, e.format_message())
        # A delete completes for Nova; the container goes when the engine
        # answers again (tests/api/test_events.py).
        self.driver.destroy(self.context, instance, [])
        self.assertEqual('running', self.status(instance))
