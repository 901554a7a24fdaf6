"""What travels when a server moves (the commit's archive without the
layers of the base image the target already has), and a move that fails
on the source."""

import hashlib
import io
import json
import tarfile
from unittest import mock

from nova import exception as nova_exception
import testtools

from nova_docker import exception
from nova_docker import migration
from nova_docker import transfer


def docker_save(layers, images=1):
    """A docker save archive: {layer path: (diff id, content)} in order."""
    out = io.BytesIO()
    manifest = [{'Config': 'config.json', 'RepoTags': ['x:1'],
                 'Layers': list(layers)}] * images
    config = {'rootfs': {'type': 'layers',
                         'diff_ids': [d for d, _ in layers.values()]}}
    with tarfile.open(fileobj=out, mode='w') as tar:
        members = [(path, content) for path, (_, content) in layers.items()]
        members += [('config.json', json.dumps(config).encode()),
                    ('manifest.json', json.dumps(manifest).encode())]
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    out.seek(0)
    return out


LAYERS = {'a/layer.tar': ('sha256:a', b'base one'),
          'b/layer.tar': ('sha256:b', b'base two'),
          'c/layer.tar': ('sha256:c', b'what the server wrote')}


class WithoutBaseTest(testtools.TestCase):

    def filtered(self, base, archive=None):
        out = io.BytesIO()
        diff_ids, digest, size = transfer._without_base(
            archive or docker_save(LAYERS), out, base)
        data = out.getvalue()
        self.assertEqual(hashlib.sha256(data).hexdigest(), digest)
        self.assertEqual(len(data), size)
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            return diff_ids, tar.getnames()

    def test_the_base_layers_stay_behind(self):
        diff_ids, names = self.filtered(['sha256:a', 'sha256:b'])
        self.assertEqual(['sha256:a', 'sha256:b', 'sha256:c'], diff_ids)
        self.assertEqual(['c/layer.tar', 'config.json', 'manifest.json'],
                         names)

    def test_everything_travels_without_a_base_or_with_another(self):
        for base in ([], ['sha256:b'], ['sha256:a', 'sha256:x']):
            _, names = self.filtered(base)
            self.assertEqual(5, len(names), base)

    def test_an_archive_of_several_images_is_refused(self):
        self.assertRaises(exception.MoveFailed, self.filtered, [],
                          docker_save(LAYERS, images=2))


class FailedSendTest(testtools.TestCase):
    """A move that fails on the source leaves the server as it was and
    tells Nova to roll back (not ERROR)."""

    def test_the_container_runs_again_and_nothing_is_left(self):
        engine = mock.Mock()
        engine.inspect.return_value = {'State': {'Running': True}}
        engine.rename.side_effect = exception.EngineError(
            engine='Docker engine', action='rename', reason='gone')
        moves = migration.Migrations(engine, mock.Mock(), mock.Mock(),
                                     mock.Mock())
        instance = mock.Mock(uuid='u1')
        with mock.patch.object(migration.objects.Migration, 'get_by_id',
                               return_value=mock.Mock(
                                   id=7, source_compute='a',
                                   dest_compute='a')):
            self.assertRaises(nova_exception.InstanceFaultRollback,
                              moves.migrate_disk_and_power_off,
                              None, instance, [], 0)
        engine.untag_image.assert_called_once_with(
            'nova-migration/u1:7')
        engine.start.assert_called_once_with('u1')
