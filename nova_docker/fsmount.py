"""Linux's mount API (fsopen, fsconfig, fsmount, move_mount) for an overlay
of many layers, called by the privsep daemon (nova_docker/privsep.py).

The classic mount(2) takes all of overlay's options in one page, so an
image of about 40 layers or more, by their full paths, does not fit.
Docker shortens them with links and paths relative to its directory,
which needs a chdir: in the multi-threaded privsep daemon that would move
every thread. The mount API instead takes each lower layer as an option
of its own (``lowerdir+``, Linux 6.8), with no page to fill, and absolute
paths; what is left is overlay's own limit on the layers of one mount.
"""

import ctypes
import errno
import os

# The same numbers on every architecture since Linux 5.2 (the syscall
# table was unified from 424 on).
_SYS_MOVE_MOUNT = 429
_SYS_FSOPEN = 430
_SYS_FSCONFIG = 431
_SYS_FSMOUNT = 432
_FSOPEN_CLOEXEC = 0x1
_FSCONFIG_SET_STRING = 1
_FSCONFIG_CMD_CREATE = 6
_FSMOUNT_CLOEXEC = 0x1
_MOVE_MOUNT_F_EMPTY_PATH = 0x4
MOUNT_ATTR_NOSUID = 0x2
MOUNT_ATTR_NODEV = 0x4
# overlayfs's OVL_MAX_STACK: the most lower layers one mount may have.
MAX_LOWER_LAYERS = 500

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def _call(number, *args):
    result = _libc.syscall(ctypes.c_long(number), *[
        ctypes.c_long(arg) if isinstance(arg, int) else arg for arg in args])
    if result < 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))
    return result


def _messages(fs_fd):
    """What the file system logged on its context (the reason of a
    failure, e.g. a layer it cannot use)."""
    lines = []
    while True:
        try:
            lines.append(os.read(fs_fd, 1024).decode(errors='replace'))
        except OSError:   # ENODATA: no more
            return '; '.join(lines)


def mount_overlay(target, lowers, upper, work, attributes):
    """Mount an overlay of lowers (top first), upper and work at target
    with the MOUNT_ATTR_* attributes."""
    if len(lowers) > MAX_LOWER_LAYERS:
        raise OSError(errno.E2BIG, 'overlay takes at most %d lower layers, '
                      'not %d' % (MAX_LOWER_LAYERS, len(lowers)))
    fs_fd = _call(_SYS_FSOPEN, b'overlay', _FSOPEN_CLOEXEC)
    try:
        try:
            for key, value in ([('lowerdir+', lower) for lower in lowers] +
                               [('upperdir', upper), ('workdir', work)]):
                _call(_SYS_FSCONFIG, fs_fd, _FSCONFIG_SET_STRING,
                      key.encode(), value.encode(), 0)
            _call(_SYS_FSCONFIG, fs_fd, _FSCONFIG_CMD_CREATE, None, None, 0)
        except OSError as e:
            raise OSError(e.errno, 'overlay of %d layers: %s (%s)' % (
                len(lowers), e.strerror, _messages(fs_fd)))
        mount_fd = _call(_SYS_FSMOUNT, fs_fd, _FSMOUNT_CLOEXEC, attributes)
    finally:
        os.close(fs_fd)
    try:
        _call(_SYS_MOVE_MOUNT, mount_fd, b'', -100, target.encode(),
              _MOVE_MOUNT_F_EMPTY_PATH)   # -100: AT_FDCWD
    finally:
        os.close(mount_fd)
