"""What a ``docker save`` archive holds, read within bounds before the
engine sees it, and the stream the engine then loads.

Reading the tar's index first turns bad Glance data into a clear fault
("not a tar", "no manifest.json", "two images", "truncated", "too many
files", "manifest.json too large", "dangling link") instead of an engine
error or an exhausted nova-compute. Every read is bounded: the number of
members (tarfile keeps one record per member), the size of each JSON file
read into memory, and the total expanded size (a compressed archive may
expand far beyond its download).

The engine then loads ``untagged_stream``: the same files, but
manifest.json without ``RepoTags`` and no legacy ``repositories`` file,
so a load tags nothing at all: a tenant's archive never moves a tag on
the host, not even for a moment.
"""

import collections
import io
import json
import lzma
import os
import posixpath
import tarfile
import zlib

ArchiveInfo = collections.namedtuple('ArchiveInfo', ['repo_tags', 'config'])
ArchiveInfo.__doc__ = """One image of a docker save archive.

repo_tags: tags the archive names (never applied); config: the image's
Config (Cmd, Entrypoint, Env, ...).
"""

Limits = collections.namedtuple(
    'Limits', ['max_members', 'max_json_bytes', 'max_bytes'])
Limits.__doc__ = """Bounds on reading an archive: files in it, bytes of
one JSON file, bytes of all files once decompressed."""

MANIFEST = 'manifest.json'
# The pre-1.10 index; the engine ignores it when manifest.json exists, and
# it names tags, so it is never passed on.
LEGACY_INDEX = 'repositories'
CHUNK = 1024 * 1024
BLOCK = tarfile.BLOCKSIZE
MAX_LINK_HOPS = 8


class BadArchive(ValueError):
    """The data is not one docker image archive; the message says why."""


def inspect(path, limits):
    """Read the archive at path; raise BadArchive if unusable."""
    try:
        tar, plain = _open(path)
        with tar:
            members = _members(tar, os.path.getsize(path) if plain else None,
                               limits)
            manifest = _json(tar, members, MANIFEST, limits)
            if manifest is None:
                raise BadArchive(
                    'it is a tar archive but not a docker image archive '
                    '(no manifest.json); make it with "docker save IMAGE"')
            entry = _entry(manifest)
            config = _json(tar, members, entry['Config'], limits)
            if config is None:
                raise BadArchive('the archive names image config %r but '
                                 'does not contain it' % entry['Config'])
            if not isinstance(config, dict) or not isinstance(
                    config.get('config') or {}, dict):
                raise BadArchive('the image config %s is not a JSON object '
                                 'with a "config" object' % entry['Config'])
            for layer in entry['Layers']:
                if _resolve(members, layer) is None:
                    raise BadArchive('the archive lacks layer %r' % layer)
    except (tarfile.TarError, EOFError, OSError, zlib.error,
            lzma.LZMAError) as e:
        raise BadArchive('the data is not a tar archive made by docker '
                         'save (%s)' % e)
    return ArchiveInfo(repo_tags=entry['RepoTags'],
                       config=config.get('config') or {})


def untagged_stream(path):
    """The archive (already inspected) as a stream of tar chunks for the
    engine's load: every member as it was, decompressed, except that
    manifest.json names no tags and the legacy index is left out."""
    tar, _plain = _open(path)
    with tar:
        for member in tar:
            if member.name == LEGACY_INDEX:
                continue
            if member.name == MANIFEST:
                manifest = json.load(tar.extractfile(member))
                manifest[0].pop('RepoTags', None)
                data = json.dumps(manifest).encode()
                header = tarfile.TarInfo(MANIFEST)
                header.size, header.mode = len(data), 0o644
                yield header.tobuf(tarfile.PAX_FORMAT)
                yield data + _padding(len(data))
                continue
            yield member.tobuf(tarfile.PAX_FORMAT)
            if member.isfile():
                source = tar.extractfile(member)
                for chunk in iter(lambda: source.read(CHUNK), b''):
                    yield chunk
                yield _padding(member.size)
        yield b'\0' * (2 * BLOCK)


def _padding(size):
    return b'\0' * (-size % BLOCK)


def _open(path):
    """The tar, and whether it is uncompressed (docker load also takes
    gzip, bzip2 and xz archives)."""
    try:
        return tarfile.open(path, 'r:'), True
    except tarfile.ReadError:
        return tarfile.open(path, 'r:*'), False


def _entry(manifest):
    """The one image entry of manifest.json, every field of the right
    type."""
    if not isinstance(manifest, list) or len(manifest) != 1:
        count = len(manifest) if isinstance(manifest, list) else 0
        raise BadArchive(
            'the archive holds %d images; a Glance image must hold exactly '
            'one ("docker save" of one image)' % count)
    entry = manifest[0]
    if not isinstance(entry, dict):
        raise BadArchive('manifest.json: the image entry is not an object')
    config, layers = entry.get('Config'), entry.get('Layers')
    tags = entry.get('RepoTags') or []
    if not isinstance(config, str) or not config:
        raise BadArchive('manifest.json: "Config" is not a file name')
    if not isinstance(layers, list) or not all(
            isinstance(layer, str) for layer in layers):
        raise BadArchive('manifest.json: "Layers" is not a list of file '
                         'names')
    if not isinstance(tags, list) or not all(
            isinstance(tag, str) for tag in tags):
        raise BadArchive('manifest.json: "RepoTags" is not a list of '
                         'names')
    return {'Config': config, 'Layers': layers, 'RepoTags': tags}


def _members(tar, size, limits):
    """Members by name, within the limits. tarfile stops quietly at a
    missing header, so an uncompressed archive cut short is caught by
    checking that each member ends inside the file (a compressed one fails
    to decompress)."""
    members = {}
    total = 0
    for member in tar:
        if len(members) >= limits.max_members:
            raise BadArchive('the archive holds more than %d files ([docker] '
                             'image_max_files)' % limits.max_members)
        total += member.size
        if total > limits.max_bytes:
            raise BadArchive('the archive expands to more than %d MiB '
                             '([docker] image_max_mb)' %
                             (limits.max_bytes // (1024 * 1024)))
        if size is not None and member.offset_data + member.size > size:
            raise BadArchive('the archive is truncated (%s ends past '
                             'the end of the data)' % member.name)
        name = _checked_name(member.name)
        if name in members:
            raise BadArchive('the archive holds %s twice' % name)
        if not (member.isfile() or member.isdir() or member.issym() or
                member.islnk()):
            raise BadArchive('%s in the archive is a device or pipe' % name)
        members[name] = member
    if not any(m.isfile() for m in members.values()):
        raise BadArchive('the data is not a tar archive made by docker save '
                         '(it holds no files)')
    for name, member in members.items():
        if (member.issym() or member.islnk()) and \
                _resolve(members, name) is None:
            raise BadArchive('%s in the archive is a link to %r, which is '
                             'not in the archive' % (name, member.linkname))
    return members


def _checked_name(name):
    """A member name inside the archive: relative, no '..'."""
    normal = posixpath.normpath(name)
    if name.startswith('/') or normal == '..' or normal.startswith('../'):
        raise BadArchive('%s in the archive points outside it' % name)
    return normal


def _resolve(members, name):
    """The regular file a name leads to through links, or None if it leads
    nowhere (dangling), outside the archive or round in circles."""
    for _hop in range(MAX_LINK_HOPS):
        member = members.get(posixpath.normpath(name))
        if member is None or member.isfile():
            return member
        if member.issym():
            if member.linkname.startswith('/'):
                return None
            name = posixpath.join(posixpath.dirname(member.name),
                                  member.linkname)
        elif member.islnk():
            name = member.linkname
        else:
            return None
        if posixpath.normpath(name).startswith('../'):
            return None
    return None


def _json(tar, members, name, limits):
    member = _resolve(members, name)
    if member is None:
        return None
    if member.size > limits.max_json_bytes:
        raise BadArchive('%s in the archive is %d bytes; at most %d are read '
                         '([docker] image_max_json_bytes)' % (
                             name, member.size, limits.max_json_bytes))
    try:
        return json.loads(tar.extractfile(member).read())
    except (ValueError, RecursionError) as e:
        raise BadArchive('%s in the archive is not valid JSON (%s)' % (
            name, e))


def tar_of(files):
    """An uncompressed tar of {name: (data, mode)}, owned by root, with
    fixed times (the same files give the same bytes)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w', format=tarfile.USTAR_FORMAT) as t:
        for name, (data, mode) in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, 0
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()
