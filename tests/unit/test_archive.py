"""Archive index and the stream the engine loads, on crafted archives."""

import io
import json
import tarfile
import tempfile

import testtools

from nova_docker import archive
from nova_docker import exception
from nova_docker import images
from tests import archives

LIMITS = archive.Limits(max_members=100, max_json_bytes=64 * 1024,
                        max_bytes=64 * 1024 * 1024)


class UntaggedStreamTest(testtools.TestCase):

    def test_tags_and_legacy_index_are_taken_out_the_rest_is_kept(self):
        data = archives.variant()
        with tempfile.NamedTemporaryFile() as f:
            f.write(data)
            f.flush()
            info = archive.inspect(f.name, LIMITS)
            streamed = b''.join(archive.untagged_stream(f.name))
        self.assertEqual(['ndtest/busybox:latest'], info.repo_tags)
        original = tarfile.open(fileobj=io.BytesIO(data))
        loaded = tarfile.open(fileobj=io.BytesIO(streamed))
        names = set(original.getnames()) - {'repositories'}
        self.assertEqual(names, set(loaded.getnames()))
        manifest = json.load(loaded.extractfile('manifest.json'))
        self.assertNotIn('RepoTags', manifest[0])
        layer = archives.layer_name()
        self.assertEqual(original.extractfile(layer).read(),
                         loaded.extractfile(layer).read())


class LimitsTest(testtools.TestCase):

    def inspect(self, data, limits=LIMITS):
        with tempfile.NamedTemporaryFile() as f:
            f.write(data)
            f.flush()
            return self.assertRaises(archive.BadArchive, archive.inspect,
                                     f.name, limits)

    def test_member_count(self):
        e = self.inspect(archives.variant(
            files={'f%d' % i: b'' for i in range(100)}))
        self.assertIn('more than 100 files', str(e))

    def test_json_size(self):
        e = self.inspect(archives.variant(
            manifest=lambda entry: b' ' * 65 * 1024 + b'[]'))
        self.assertIn('at most 65536 are read', str(e))

    def test_deeply_nested_json(self):
        e = self.inspect(archives.variant(
            manifest=lambda entry: b'[' * 30000 + b']' * 30000))
        self.assertIn('not valid JSON', str(e))

    def test_absolute_member_name(self):
        e = self.inspect(archives.variant(files={'/etc/x': b'x'}))
        self.assertIn('points outside', str(e))


class StagingRoomTest(testtools.TestCase):

    def test_an_image_larger_than_the_free_space_is_refused_first(self):
        directory = tempfile.gettempdir()
        e = self.assertRaises(exception.StagingFull, images._check_room,
                              directory, 10 ** 18)
        self.assertIn('image_staging_dir', e.format_message())
        images._check_room(directory, 1)
        images._check_room(directory, None)
