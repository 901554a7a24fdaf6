"""Glance images in the engine: downloaded once, tagged by Glance id, the
host's own tags untouched."""

import os

from nova_docker import naming
from tests.functional import base
from tests import support


class ImageReuseTest(base.DriverTestCase):

    def test_second_spawn_reuses_the_loaded_image(self):
        data = support.archive_bytes('busybox')
        host_tags = self.archive_tags(data)   # ndtest/busybox:latest
        downloads = self.count_downloads()
        image = self.create_image(data=data)

        first = self.spawn(image_meta=image)
        second = self.spawn(image_meta=image)

        self.assertEqual([image.id], downloads)
        self.assertEqual(['%s%s:%s' % (naming.IMAGE_REPOSITORY, image.id,
                                       image.checksum)],
                         self.image_tags(image.id))
        self.assertEqual(self.inspect(first)['Image'],
                         self.inspect(second)['Image'])
        self.assertEqual('running', self.status(first))
        self.assertEqual('running', self.status(second))
        # A docker save archive brings its own tag with it: the host's
        # ndtest/busybox:latest is as it was before the load.
        self.assertEqual(['ndtest/busybox:latest'], list(host_tags))
        self.assert_archive_tags_kept(data, host_tags)
        self.assertEqual([], os.listdir(self.staging_dir))

    def test_new_driver_reuses_what_the_engine_holds(self):
        # nova-compute restarted: the engine still has the image.
        image = self.create_image()
        self.spawn(image_meta=image)
        downloads = self.count_downloads()
        restarted = self.make_driver(self.host)
        instance = self.spawn(image_meta=image, driver=restarted)
        self.assertEqual([], downloads)
        self.assertEqual('running', self.status(instance))

    def test_image_without_checksum_is_tagged_latest(self):
        image = self.create_image(checksum=None)
        self.spawn(image_meta=image)
        self.assertEqual(['%s%s:latest' % (naming.IMAGE_REPOSITORY,
                                           image.id)],
                         self.image_tags(image.id))

    def test_destroy_keeps_the_image_for_the_next_spawn(self):
        downloads = self.count_downloads()
        image = self.create_image()
        instance = self.spawn(image_meta=image)
        self.driver.destroy(self.context, instance, [])
        self.assertEqual(1, len(self.image_tags(image.id)))
        self.spawn(image_meta=image)
        self.assertEqual([image.id], downloads)

    def test_concurrent_spawns_of_a_new_image_download_once(self):
        downloads = self.count_downloads()
        image = self.create_image()
        instances = [self.make_instance() for _ in range(3)]
        threads = [base.start_thread(self.spawn, instance, image)
                   for instance in instances]
        for thread in threads:
            self.assertEqual(None, thread.outcome(base.WAIT_SECONDS))
        for instance in instances:
            self.assertEqual('running', self.status(instance))
        self.assertEqual([image.id], downloads)
        self.assertEqual(1, len(self.image_tags(image.id)))
        self.assertEqual([], os.listdir(self.staging_dir))


class ArchiveTagsTest(base.DriverTestCase):
    """A docker save archive carries tags; loading it must not change what
    those tags mean on the host."""

    def setUp(self):
        super().setUp()
        self.tag = 'ndtest-functional-%s/busybox:latest' % self.host
        self.addCleanup(self.untag, self.tag)

    def untag(self, ref):
        if self.tag_target(ref):
            self.docker.api.remove_image(ref)

    def archive(self):
        return base.rewrite_archive(support.archive_bytes('busybox'),
                                    repo_tags=[self.tag])

    def test_a_tag_new_to_the_host_is_not_left_behind(self):
        image = self.create_image(data=self.archive())
        instance = self.spawn(image_meta=image)
        self.assertEqual('running', self.status(instance))
        self.assertIsNone(self.tag_target(self.tag))
        self.assertEqual(1, len(self.image_tags(image.id)))

    def test_a_tag_of_another_image_is_never_moved(self):
        # The host's tag points at another image (the nocmd test image,
        # loaded through the driver).
        other = self.create_image(
            'nocmd', os_command_line='sh -c "exec sleep 1000000"')
        self.spawn(image_meta=other)
        other_id = self.tag_target(self.image_tags(other.id)[0])
        self.docker.api.tag(other_id, *self.tag.rsplit(':', 1))

        image = self.create_image(data=self.archive())
        instance = self.spawn(image_meta=image)

        self.assertEqual('running', self.status(instance))
        self.assertEqual(other_id, self.tag_target(self.tag))
        self.assertNotEqual(other_id,
                            self.tag_target(self.image_tags(image.id)[0]))
