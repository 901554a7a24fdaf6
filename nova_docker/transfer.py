"""Moving a server's files between two hosts' engines, through Glance.

The source commits the container and saves the commit, leaving out the
layers of the server's Glance image (the target loads those from Glance or
already has them): what travels is what the server wrote, plus any earlier
resizes' layers. The archive goes to a private Glance image of the
server's project with its sha256 in the disk info Nova hands to the
target; the target downloads it to a staging file, checks the hash, loads
it, checks the layers it got and deletes the Glance image.

Why Glance: both hosts already reach it with the user's authentication,
streams are chunked both ways and nothing new listens on the network;
driving the target's engine from the source would expose every engine's
API (root on its host) to every other compute host.

The engine's load skips a layer it already has without opening the
layer's file, which is what makes leaving the base layers out work
(Docker's; Podman's load reads every layer: it gets the whole image,
engine.dialect).
"""

import hashlib
import json
import tarfile
import tempfile

from nova import exception as nova_exception
from oslo_log import log as logging

from nova_docker import exception

LOG = logging.getLogger(__name__)

CHUNK = 1024 * 1024
# A Glance property that says what the image is, should one outlive a move.
MOVING_PROPERTY = 'nova_docker_moving_instance'


def send(engine, image_api, context, instance, ref, base_ref,
         staging_dir=None):
    """Upload ref (minus base_ref's layers) to a new private Glance image;
    returns what the target needs, for Nova's disk_info."""
    with tempfile.TemporaryFile(dir=staging_dir) as saved, \
            tempfile.TemporaryFile(dir=staging_dir) as filtered:
        for chunk in engine.save_image(ref):
            saved.write(chunk)
        saved.seek(0)
        base = (engine.image_layers(base_ref)
                if base_ref and engine.dialect.loads_without_known_layers
                else [])
        diff_ids, digest, size = _without_base(saved, filtered, base)
        filtered.seek(0)
        meta = {'name': 'resize of server %s' % instance.uuid,
                'container_format': 'docker', 'disk_format': 'raw',
                'visibility': 'private',
                'properties': {MOVING_PROPERTY: instance.uuid}}
        image = image_api.create(context, meta, data=filtered)
    LOG.info('Sent the server\'s files to Glance image %(id)s: %(mb).1f '
             'MiB (the image\'s %(base)d base layers left out)',
             {'id': image['id'], 'mb': size / 1048576.0, 'base': len(base)},
             instance=instance)
    return {'glance_image': image['id'], 'sha256': digest,
            'diff_ids': diff_ids, 'ref': ref}


def receive(engine, image_api, context, instance, moved, staging_dir=None):
    """Load what send() uploaded; the Glance image is deleted once loaded."""
    with tempfile.NamedTemporaryFile(dir=staging_dir) as staged:
        writer = _HashingWriter(staged)
        image_api.download(context, moved['glance_image'], data=writer)
        staged.flush()
        if writer.hexdigest() != moved['sha256']:
            raise exception.MoveFailed(
                reason='the files received do not match their sha256')
        staged.seek(0)
        engine.load_image(staged)
    layers = engine.image_layers(moved['ref'])
    if layers != moved['diff_ids']:
        raise exception.MoveFailed(
            reason='the loaded image has other layers than were sent')
    discard(image_api, context, moved)


def discard(image_api, context, moved):
    """Delete the Glance image of a move, if it is still there."""
    try:
        image_api.delete(context, moved['glance_image'])
    except (nova_exception.ImageNotFound, nova_exception.ImageNotAuthorized):
        pass


def _without_base(saved, out, base):
    """Copy the docker save archive in ``saved`` to ``out`` leaving out the
    layer files of the base chain; returns (diff ids, sha256, size)."""
    writer = _HashingWriter(out)
    with tarfile.open(fileobj=saved, mode='r:') as src:
        manifest = json.load(src.extractfile('manifest.json'))
        if len(manifest) != 1:
            raise exception.MoveFailed(
                reason='the committed archive holds %d images' %
                len(manifest))
        config = json.load(src.extractfile(manifest[0]['Config']))
        diff_ids = config['rootfs']['diff_ids']
        layers = manifest[0]['Layers']
        skip = set()
        if base and diff_ids[:len(base)] == base:
            skip = set(layers[:len(base)])
        with tarfile.open(fileobj=writer, mode='w|') as dst:
            for member in src:
                if member.name in skip:
                    continue
                data = src.extractfile(member) if member.isfile() else None
                dst.addfile(member, data)
    return diff_ids, writer.hexdigest(), writer.size


class _HashingWriter(object):
    """Writes through to a file, hashing and counting what passes."""

    def __init__(self, fileobj):
        self._file = fileobj
        self._hash = hashlib.sha256()
        self.size = 0

    def write(self, chunk):
        self._file.write(chunk)
        self._hash.update(chunk)
        self.size += len(chunk)
        return len(chunk)

    def hexdigest(self):
        return self._hash.hexdigest()
