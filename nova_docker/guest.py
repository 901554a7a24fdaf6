"""What the guest gets at first boot without cloud-init, and its password.

The key pair goes into the image user's ``~/.ssh/authorized_keys`` (the
image's USER, else root; home, uid and gid from the image's /etc/passwd),
written by the engine into the created container before it first starts.
A ``#!`` user-data script is staged the same way and run once after the
first start, only when ``[docker] run_user_data`` allows it. A password
is set with the image's ``chpasswd`` (or busybox's ``chpasswd`` or
``passwd``) through the engine's exec, or written as a hash into the
image's /etc/shadow (or /etc/passwd) through the engine's archive calls:
the boot's, while Neutron wires a networked server's ports; and any, in an
image without a shell. Images that carry cloud-init read the config drive
instead (nova_docker.configdrive).
"""

import base64
import collections
import io
import posixpath
import secrets
import string
import tarfile
import time

from nova import exception as nova_exception
from oslo_log import log as logging
from oslo_utils import secretutils
from oslo_utils import units

LOG = logging.getLogger(__name__)

# Reading these files through the engine is bounded.
MAX_PASSWD_BYTES = units.Mi
MAX_KEYS_BYTES = units.Mi
MAX_SHADOW_BYTES = units.Mi
USER_DATA_SCRIPT = '/var/lib/nova-docker/user-data'
USER_DATA_LOG = '/var/lib/nova-docker/user-data.log'

Account = collections.namedtuple('Account', ['name', 'uid', 'gid', 'home'])

# Sets the password of $NOVA_DOCKER_USER from the environment (never the
# command line, which other processes in the container can read): the
# image's chpasswd, else busybox's chpasswd or passwd (Debian's static
# busybox has only passwd, which reads the new password twice from stdin);
# 127 tells "this image has no way to do it".
_CHPASSWD = (
    'if command -v chpasswd >/dev/null 2>&1; then '
    'printf "%s:%s\\n" "$NOVA_DOCKER_USER" "$NOVA_DOCKER_PASSWORD" | '
    'chpasswd; '
    'elif busybox chpasswd --help >/dev/null 2>&1; then '
    'printf "%s:%s\\n" "$NOVA_DOCKER_USER" "$NOVA_DOCKER_PASSWORD" | '
    'busybox chpasswd; '
    'elif busybox passwd --help >/dev/null 2>&1; then '
    'printf "%s\\n%s\\n" "$NOVA_DOCKER_PASSWORD" "$NOVA_DOCKER_PASSWORD" | '
    'busybox passwd "$NOVA_DOCKER_USER" >/dev/null; '
    'else exit 127; fi')
# Commands the driver runs as root name it by uid: an engine may look a
# name up in the image's /etc/passwd, which a distroless image lacks
# (Podman refuses "unable to find user root").
ROOT_UID = '0'
# crypt(3)'s SHA-512 ($6$): what chpasswd wrote for a decade, checked by
# every current libc and by busybox (Nova's own file injection writes MD5).
_HASH_PREFIX = '$6$'
_SALT_CHARS = string.ascii_letters + string.digits + './'
# Go's os.ModeSymlink, in the mode of the engine's stat of a path.
_GO_MODE_SYMLINK = 1 << 27

# Exit codes of an exec whose program is missing (no sh in the image).
_NOT_RUNNABLE = (126, 127)


def image_user(image_config):
    """The user the image's workload runs as (its USER, else root), by
    name or uid."""
    user = ((image_config or {}).get('User') or '').split(':')[0]
    return user or 'root'


def find_account(passwd, user):
    """The /etc/passwd entry of user (a name or a uid), or None."""
    for line in passwd.splitlines():
        fields = line.split(':')
        if len(fields) < 7 or not fields[2].isdigit() or \
                not fields[3].isdigit():
            continue
        if user in (fields[0], fields[2]):
            return Account(fields[0], int(fields[2]), int(fields[3]),
                           fields[5] or '/')
    return None


def with_key(existing, key_data):
    """authorized_keys content with key_data added once."""
    lines = existing.splitlines()
    key = key_data.strip()
    if key in (line.strip() for line in lines):
        return existing if existing.endswith('\n') or not existing \
            else existing + '\n'
    return '\n'.join(lines + [key]) + '\n'


def hashed_password(password):
    """The password as crypt(3) stores it, with a fresh random salt."""
    salt = ''.join(secrets.choice(_SALT_CHARS) for _ in range(16))
    return secretutils.crypt_password(password, _HASH_PREFIX + salt)


def with_password(text, name, hashed, day=None):
    """An /etc/shadow (day: of the change, in days since 1970) or, with
    day None, an /etc/passwd with name's password field set to hashed;
    None if the file has no entry for name."""
    lines = text.split('\n')
    for i, line in enumerate(lines):
        fields = line.split(':')
        if fields[0] == name and len(fields) > 1:
            fields[1] = hashed
            if day is not None and len(fields) > 2:
                fields[2] = str(day)
            lines[i] = ':'.join(fields)
            return '\n'.join(lines)
    return None


def keys_archive(account, content):
    """A tar, to unpack at /, holding ~/.ssh (700) and authorized_keys
    (600), both owned by the account."""
    ssh_dir = posixpath.join(account.home, '.ssh').lstrip('/')
    return _tar([(ssh_dir, None, 0o700, account),
                 (ssh_dir + '/authorized_keys', content.encode(), 0o600,
                  account)])


def user_data_script(user_data):
    """The instance's user data (base64, as Nova stores it) if it is a
    script (starts with #!), else None."""
    if not user_data:
        return None
    data = base64.b64decode(user_data)
    return data if data.startswith(b'#!') else None


def script_archive(script):
    """A tar, to unpack at /, holding the user-data script (root, 700)."""
    root = Account('root', 0, 0, '/root')
    return _tar([(USER_DATA_SCRIPT.lstrip('/'), script, 0o700, root)])


def checked_paths(instance, injected_files):
    """The normalised container paths of Nova's injected files
    (personality; a relative path is relative to /, as with the libvirt
    driver's injection); raises BuildAbortException naming a path that
    climbs with '..' (checked before anything is created)."""
    paths = []
    for path, _content in injected_files or []:
        if '..' in path.split('/'):
            raise _refused(instance, path, "it contains '..'")
        normalised = posixpath.normpath('/' + path)
        if normalised in ('/', '//'):
            raise _refused(instance, path, 'it names no file')
        paths.append('/' + normalised.lstrip('/'))
    return paths


def files_archive(paths, injected_files):
    """A tar, to unpack at /, of the injected files (root, 644)."""
    root = Account('root', 0, 0, '/root')
    entries = []
    for path, (_path, content) in zip(paths, injected_files):
        if isinstance(content, str):
            content = content.encode('utf-8')
        entries.append((path.lstrip('/'), content, 0o644, root))
    return _tar(entries)


def _refused(instance, path, why):
    return nova_exception.BuildAbortException(
        instance_uuid=instance.uuid,
        reason='injected file %s refused: %s' % (path, why))


def file_archive(path, content, member):
    """A tar, to unpack at /, holding content at path with the mode and
    owner of member (the file it replaces)."""
    owner = Account('', member.uid, member.gid, '')
    # The engine's tar headers carry the file type's bits in the mode too.
    return _tar([(path.lstrip('/'), content, member.mode & 0o7777, owner)])


def _tar(entries):
    """An uncompressed tar of (name, data or None for a directory, mode,
    owner) entries."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode='w') as tar:
        for name, data, mode, owner in entries:
            info = tarfile.TarInfo(name)
            info.mode = mode
            info.uid, info.gid = owner.uid, owner.gid
            info.uname = info.gname = ''
            if data is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _read_file(engine, instance_uuid, path, max_bytes):
    """A regular file's content from the container, or None."""
    member, data = _read_member(engine, instance_uuid, path, max_bytes)
    if member is None or not member.isfile():
        return None
    return data.decode('utf-8', 'replace')


def _read_member(engine, instance_uuid, path, max_bytes):
    """The tar entry of path in the container and, for a regular file, its
    content; (None, None) if there is no such path."""
    archive = engine.get_archive(instance_uuid, path, max_bytes)
    if archive is None:
        return None, None
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        member = tar.next()
        if member is None or not member.isfile():
            return member, None
        return member, tar.extractfile(member).read()


# -- first boot (the container is created, not yet started) ---------------

def add_key(engine, instance, image_config):
    """Put the instance's key pair into the image user's authorized_keys.
    Returns whether it did (an image without that user in /etc/passwd has
    no home to put it in)."""
    if not instance.key_data:
        return False
    user = image_user(image_config)
    passwd = _read_file(engine, instance.uuid, '/etc/passwd',
                        MAX_PASSWD_BYTES)
    account = find_account(passwd or '', user)
    if account is None:
        LOG.warning('Key pair %s not installed: the image has no user %s in '
                    '/etc/passwd', instance.key_name, user, instance=instance)
        return False
    path = posixpath.join(account.home, '.ssh', 'authorized_keys')
    existing = _read_file(engine, instance.uuid, path, MAX_KEYS_BYTES) or ''
    engine.put_archive(instance.uuid, '/',
                       keys_archive(account,
                                    with_key(existing, instance.key_data)))
    LOG.info('Key pair %s added to %s', instance.key_name, path,
             instance=instance)
    return True


def stage_user_data(engine, instance, allowed):
    """Put a #! user-data script into the container, to run at its first
    start; returns whether it did."""
    script = user_data_script(instance.user_data)
    if script is None:
        return False
    if not allowed:
        LOG.info('User-data script not run: [docker] run_user_data is off',
                 instance=instance)
        return False
    engine.put_archive(instance.uuid, '/', script_archive(script))
    return True


def write_password(engine, instance, image_config, password):
    """Write the hash of the password of the image user into the
    container's /etc/shadow, or into /etc/passwd in an image without a
    shadow file (as busybox's passwd does); the container may be created
    or running, nothing runs in it. Returns whether it did: not where the
    files do not hold the user, or the engine does not say whose the file
    is."""
    if not engine.dialect.downloads_report_owners:
        return False
    passwd_member, passwd = _read_member(engine, instance.uuid,
                                         '/etc/passwd', MAX_PASSWD_BYTES)
    account = find_account((passwd or b'').decode('utf-8', 'replace'),
                           image_user(image_config))
    if account is None:
        return False
    path, day = '/etc/shadow', int(time.time() // 86400)
    member, data = _read_member(engine, instance.uuid, path,
                                MAX_SHADOW_BYTES)
    if member is None:
        path, day, member, data = '/etc/passwd', None, passwd_member, passwd
    if data is None:
        return False  # a link or other odd file: the image's tools decide
    # Bytes the file holds that are not UTF-8 go back as they were.
    text = with_password(data.decode('utf-8', 'surrogateescape'),
                         account.name, hashed_password(password), day)
    if text is None:
        return False
    engine.put_archive(instance.uuid, '/', file_archive(
        path, text.encode('utf-8', 'surrogateescape'), member))
    LOG.info('Admin password of %s written to %s', account.name, path,
             instance=instance)
    return True


def inject_files(engine, instance, injected_files):
    """Write Nova's injected files into the container. A path through a
    symbolic link is refused, naming the path (the engine resolves links
    inside the container, but a file written through one lands somewhere
    other than where the user asked)."""
    paths = checked_paths(instance, injected_files)
    if not paths:
        return
    for path in paths:
        parts = path.split('/')[1:]
        for depth in range(1, len(parts) + 1):
            component = '/' + '/'.join(parts[:depth])
            stat = engine.path_stat(instance.uuid, component)
            if stat is None:
                break  # the rest is made anew
            if stat['mode'] & _GO_MODE_SYMLINK or stat.get('linkTarget'):
                raise _refused(instance, path,
                               '%s is a symbolic link (to %s)' % (
                                   component, stat.get('linkTarget')))
    engine.put_archive(instance.uuid, '/',
                       files_archive(paths, injected_files))
    LOG.info('Injected files written: %s', ', '.join(paths),
             instance=instance)


# -- running container ---------------------------------------------------

def run_user_data(engine, instance):
    """Start the staged user-data script as root, in the background, with
    its output in USER_DATA_LOG."""
    engine.exec(instance.uuid,
                ['/bin/sh', '-c', 'exec "$0" >"$1" 2>&1',
                 USER_DATA_SCRIPT, USER_DATA_LOG],
                user=ROOT_UID, detach=True)
    LOG.info('User-data script started', instance=instance)


def set_password(engine, instance, image_config, password):
    """Set the image user's password in the running container: with the
    image's chpasswd or, in an image without one (no shell), by writing
    its hash into the image's files."""
    try:
        chpasswd(engine, instance, image_config, password)
    except nova_exception.SetAdminPasswdNotSupported:
        if not write_password(engine, instance, image_config, password):
            raise


def chpasswd(engine, instance, image_config, password):
    """Set the image user's password with the image's own tool, run in
    the container by the engine's exec."""
    user = image_user(image_config)
    code, output = engine.exec(
        instance.uuid, ['sh', '-c', _CHPASSWD], user=ROOT_UID,
        environment={'NOVA_DOCKER_USER': user,
                     'NOVA_DOCKER_PASSWORD': password})
    if code in _NOT_RUNNABLE:
        raise _not_supported('it has no sh with chpasswd or busybox passwd')
    if code != 0:
        raise _not_supported('setting the password of user %s failed (exit '
                             'code %s): %s' % (
                                 user, code, output.decode(
                                     'utf-8', 'replace').strip()[:120]))


def _not_supported(reason):
    # Nova's own class (not a subclass): it crosses RPC back to the API,
    # which answers 409 with this message.
    return nova_exception.SetAdminPasswdNotSupported(
        message='Setting the admin password is not supported by this '
                'image: %s' % reason)
