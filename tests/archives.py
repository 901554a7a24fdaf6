"""Docker save archives made from the test archives: hostile ones (a
changed manifest or image config, links, bombs) and ones with more
layers."""

import gzip
import hashlib
import io
import json
import os
import tarfile
import zlib

from tests import support

BLOCK = tarfile.BLOCKSIZE


def _members(base='busybox'):
    """{name: (TarInfo, bytes or None)} of a test archive."""
    members = {}
    with tarfile.open(support.archive_path(base), 'r:') as tar:
        for info in tar:
            data = tar.extractfile(info).read() if info.isfile() else None
            members[info.name] = (info, data)
    return members


def variant(manifest=None, config=None, files=None, links=None,
            drop=(), base='busybox'):
    """The base archive with changes: manifest(entry) and config(dict)
    edit those JSON files in place; files adds {name: bytes}; links adds
    {name: target} symlinks; drop removes members."""
    members = _members(base)
    entry = json.loads(members['manifest.json'][1])
    config_name = entry[0]['Config']
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode='w') as tar:
        for name, (info, data) in members.items():
            if name in drop:
                continue
            if name == config_name and config is not None:
                image_config = json.loads(data)
                config(image_config)
                data = json.dumps(image_config).encode()
            if name == 'manifest.json' and manifest is not None:
                edited = manifest(entry)
                data = edited if isinstance(edited, bytes) else \
                    json.dumps(edited).encode()
            if data is not None:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
        for name, data in (files or {}).items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return out.getvalue()


def layer_name():
    return json.loads(_members()['manifest.json'][1])[0]['Layers'][0]


def gzip_bomb(expanded_gb=10):
    """A gzip'd tar whose one member claims (and, decompressed, has)
    expanded_gb GiB of zeros, about 10 MiB to download: gzip allows
    concatenated members, so one compressed MiB of zeros is repeated."""
    header = tarfile.TarInfo('layer.tar')
    header.size = expanded_gb * 1024 ** 3
    head = gzip.compress(header.tobuf(tarfile.GNU_FORMAT), 1)
    return head + gzip.compress(b'\0' * 1024 * 1024, 9) * (
        expanded_gb * 1024)


def many_headers(count=10 ** 6):
    """A gzip'd tar of count empty files (count * 512 bytes expanded),
    made once per test run (a few seconds) and kept beside the test
    images."""
    path = os.path.join(support.IMAGES_DIR, 'headers-%d.tar.gz' % count)
    if not os.path.exists(path):
        partial = '%s.%d' % (path, os.getpid())
        with open(partial, 'wb') as f:
            f.write(_many_headers(count))
        os.rename(partial, path)
    with open(path, 'rb') as f:
        return f.read()


def _many_headers(count):
    template = bytearray(tarfile.TarInfo('f0000000').tobuf(
        tarfile.USTAR_FORMAT))
    # Names differ in their last seven digits; the checksum field (octal,
    # bytes 148-155) is recomputed from the template's by the digits' sum.
    template[148:156] = b' ' * 8
    base = sum(template) - sum(b'0000000')
    compressor = zlib.compressobj(1, zlib.DEFLATED, 31)
    parts, batch = [], []
    for i in range(count):
        digits = b'%07d' % i
        block = template[:]
        block[1:8] = digits
        block[148:156] = b'%06o\0 ' % (base + sum(digits))
        batch.append(bytes(block))
        if len(batch) == 4096:
            parts.append(compressor.compress(b''.join(batch)))
            batch = []
    parts.append(compressor.compress(b''.join(batch) + b'\0' * 2 * BLOCK))
    parts.append(compressor.flush())
    return b''.join(parts)


def layered(count):
    """The busybox archive with count - 1 more layers on top, each adding
    one small file /layers/<n>: an image of count layers, as a long
    Dockerfile makes (and as Docker's own one-page mount options, by
    full paths, do not hold)."""
    return with_layers([support.tar_bytes({'layers/%d' % n: b'%d\n' % n})
                        for n in range(1, count)])


def with_layers(layers, base='busybox', config=None):
    """The base archive with layers (uncompressed tars) on top, loaded
    untagged as Glance's are; config(dict) edits the image config too."""
    def add_layers(entry):
        entry[0]['Layers'] += ['layer%d/layer.tar' % n
                               for n in range(1, len(layers) + 1)]
        entry[0]['RepoTags'] = None
        return entry

    def add_diff_ids(image_config):
        image_config['rootfs']['diff_ids'] += [
            'sha256:' + hashlib.sha256(data).hexdigest() for data in layers]
        image_config['history'] = image_config.get('history', []) + [
            {'created_by': 'layer %d' % n}
            for n in range(1, len(layers) + 1)]
        if config is not None:
            config(image_config)

    return variant(manifest=add_layers, config=add_diff_ids, base=base,
                   files={'layer%d/layer.tar' % n: data
                          for n, data in enumerate(layers, start=1)})
