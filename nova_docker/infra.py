"""The infra ("pause") image, made on this host from a static binary.

Every instance gets a small infra container that owns its network
namespace (see network.py). Its image never comes from a registry: the
driver builds it from a static pause binary on the compute host (Debian's
``catatonit``, run as ``catatonit -P``) as a one-layer ``docker save``
archive with fixed timestamps, so the same binary always gives the same
image id: compute services starting side by side on one engine load one
image, not one each.
"""

import hashlib
import io
import json
import tarfile

from nova import exception as nova_exception

from nova_docker import naming

ENTRYPOINT = ['/pause', '-P']
# Fixed, so that the image id depends on the binary alone.
EPOCH = '1970-01-01T00:00:00Z'
# Kernel machine names -> the engine's architecture names.
_ARCH = {'x86_64': 'amd64', 'aarch64': 'arm64', 'ppc64le': 'ppc64le',
         's390x': 's390x'}


def ensure_image(engine, docker_conf):
    """The engine's id of the infra image, loaded if missing (containers
    are created from the id, which no later tag can move)."""
    if docker_conf.infra_image:
        image_id = engine.image_id(docker_conf.infra_image)
        if image_id is None:
            raise nova_exception.InvalidConfiguration(
                '[docker] infra_image %s is not in the Docker engine; load '
                'it, or unset the option to build one from [docker] '
                'infra_binary' % docker_conf.infra_image)
        return image_id
    binary = _read_binary(docker_conf.infra_binary)
    ref = naming.infra_image_reference(hashlib.sha256(binary).hexdigest())
    image_id = engine.image_id(ref)
    if image_id is None:
        # The engine's architecture, not ours: it may be a remote one.
        machine = engine.info().get('Architecture') or 'x86_64'
        engine.load_image(io.BytesIO(archive(binary, ref, machine)))
        image_id = engine.image_id(ref)
    return image_id


def _read_binary(path):
    try:
        with open(path, 'rb') as f:
            return f.read()
    except OSError as e:
        raise nova_exception.InvalidConfiguration(
            '[docker] infra_binary %s cannot be read (%s): install a static '
            'pause binary there (Debian: apt install catatonit) or set '
            '[docker] infra_image' % (path, e.strerror))


def archive(binary, ref, machine):
    """A ``docker save`` archive of one image holding ``/pause``."""
    layer = _tar({'pause': (binary, 0o755)})
    diff_id = 'sha256:' + hashlib.sha256(layer).hexdigest()
    config = _json({
        'architecture': _ARCH.get(machine, machine),
        'os': 'linux', 'created': EPOCH,
        'config': {'Entrypoint': ENTRYPOINT, 'Env': ['PATH=/'],
                   'Labels': {naming.LABEL_PREFIX + 'infra': 'true'}},
        'rootfs': {'type': 'layers', 'diff_ids': [diff_id]},
        'history': [{'created': EPOCH, 'created_by': 'nova-docker'}],
    })
    config_name = hashlib.sha256(config).hexdigest() + '.json'
    manifest = _json([{'Config': config_name, 'RepoTags': [ref],
                       'Layers': ['layer/layer.tar']}])
    return _tar({'manifest.json': (manifest, 0o644),
                 config_name: (config, 0o644),
                 'layer/layer.tar': (layer, 0o644)})


def _json(value):
    return json.dumps(value, sort_keys=True, separators=(',', ':')).encode()


def _tar(files):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w', format=tarfile.USTAR_FORMAT) as t:
        for name, (data, mode) in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, 0
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()
