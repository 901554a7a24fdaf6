"""What a ``docker save`` archive holds, read before the engine sees it.

Reading the tar's index first turns bad Glance data into a clear fault
("not a tar", "no manifest.json", "two images", "truncated", "no
command") instead of an engine error, and tells which tags a load would
bring in with it.
"""

import collections
import json
import os
import tarfile

ArchiveInfo = collections.namedtuple('ArchiveInfo', ['repo_tags', 'config'])
ArchiveInfo.__doc__ = """One image of a docker save archive.

repo_tags: tags the load brings in; config: the image's Config (Cmd,
Entrypoint, Env, ...).
"""


class BadArchive(ValueError):
    """The data is not one docker image archive; the message says why."""


def inspect(path):
    """Read the archive at path; raise BadArchive if unusable."""
    try:
        tar, plain = _open(path)
        with tar:
            members = _members(tar, os.path.getsize(path) if plain else None)
            manifest = _json(tar, members, 'manifest.json')
            if manifest is None:
                raise BadArchive(
                    'it is a tar archive but not a docker image archive '
                    '(no manifest.json); make it with "docker save IMAGE"')
            if not isinstance(manifest, list) or len(manifest) != 1:
                count = len(manifest) if isinstance(manifest, list) else 0
                raise BadArchive(
                    'the archive holds %d images; a Glance image must hold '
                    'exactly one ("docker save" of one image)' % count)
            entry = manifest[0]
            config_name = entry.get('Config') or ''
            config = _json(tar, members, config_name)
            if config is None:
                raise BadArchive('the archive names image config %r but '
                                 'does not contain it' % config_name)
            for layer in entry.get('Layers') or []:
                if layer not in members:
                    raise BadArchive('the archive lacks layer %r' % layer)
    except (tarfile.TarError, EOFError, OSError) as e:
        raise BadArchive('the data is not a tar archive made by docker '
                         'save (%s)' % e)
    return ArchiveInfo(repo_tags=list(entry.get('RepoTags') or []),
                       config=config.get('config') or {})


def _open(path):
    """The tar, and whether it is uncompressed (docker load also takes
    gzip, bzip2 and xz archives)."""
    try:
        return tarfile.open(path, 'r:'), True
    except tarfile.ReadError:
        return tarfile.open(path, 'r:*'), False


def _members(tar, size):
    """Regular files by name. tarfile stops quietly at a missing header, so
    an uncompressed archive cut short is caught by checking that each
    member ends inside the file (a compressed one fails to decompress)."""
    members = {}
    for member in tar:
        if member.isfile() or member.issym() or member.islnk():
            if size is not None and member.offset_data + member.size > size:
                raise BadArchive('the archive is truncated (%s ends past '
                                 'the end of the data)' % member.name)
            members[member.name] = member
    if not members:
        raise BadArchive('the data is not a tar archive made by docker save '
                         '(it holds no files)')
    return members


def _json(tar, members, name):
    member = members.get(name)
    if member is None:
        return None
    try:
        return json.load(tar.extractfile(member))
    except ValueError as e:
        raise BadArchive('%s in the archive is not valid JSON (%s)' % (
            name, e))
