"""The default Glance image: busybox built locally, uploaded as a docker
archive.

No registry is reachable (nor wanted): the image is ``docker import`` of a
root filesystem made from Debian's static busybox, and Glance holds the
output of ``docker save`` with container_format=docker.
"""

import hashlib
import io
import json
import os
import subprocess
import tarfile
import tempfile

from nova_docker.aio.progress import Failed

IMAGE_TAG = 'nova-docker-aio/busybox:latest'
GLANCE_NAME = 'busybox'
# A few lines on the console: tempest checks that a console log can be
# longer than three lines.
WORKLOAD = ('echo "nova-docker-aio: hello from $(hostname)"; '
            'echo "started $(date -u)"; uname -a; id; '
            'exec sleep 2147483647')
APPLETS = ('sh', 'cat', 'date', 'echo', 'env', 'hostname', 'id', 'ip', 'ls',
           'mkdir', 'ps', 'rm', 'sleep', 'tail', 'true', 'false', 'uname',
           'wc', 'grep', 'kill', 'ping', 'ping6', 'nc', 'wget')


def _rootfs_tar(busybox, path):
    with tarfile.open(path, 'w') as tar:
        for d in ('bin', 'etc', 'tmp', 'proc', 'sys', 'dev', 'root'):
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        tar.add(busybox, 'bin/busybox')
        for applet in APPLETS:
            info = tarfile.TarInfo('bin/' + applet)
            info.type, info.linkname = tarfile.SYMTYPE, 'busybox'
            tar.addfile(info)
        for name, text in (('etc/passwd', 'root:x:0:0:root:/root:/bin/sh\n'),
                           ('etc/group', 'root:x:0:\n')):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))


def build_archive(layout, busybox):
    """The ``docker save`` archive of the image; built once."""
    # Named after the workload: a changed workload is a new archive.
    out = layout.path('images', 'busybox-%s.tar' % hashlib.sha256(
        WORKLOAD.encode()).hexdigest()[:8])
    if os.path.exists(out):
        return out
    os.makedirs(os.path.dirname(out), exist_ok=True)
    log = layout.log('images')
    with tempfile.TemporaryDirectory() as tmp, open(log, 'ab') as logf:
        rootfs = os.path.join(tmp, 'rootfs.tar')
        _rootfs_tar(busybox, rootfs)
        steps = (
            ['docker', 'import', '--change', 'ENV PATH=/bin',
             '--change', 'CMD ["/bin/sh", "-c", %s]' % json.dumps(WORKLOAD),
             rootfs, IMAGE_TAG],
            ['docker', 'save', '-o', out + '.part', IMAGE_TAG],
        )
        for argv in steps:
            if subprocess.call(argv, stdout=logf, stderr=logf):
                raise Failed(' '.join(argv[:2]) + ' failed', log)
    os.rename(out + '.part', out)
    return out


def ensure_glance_image(client, archive, name=GLANCE_NAME):
    return upload(client, name, archive, {
        'container_format': 'docker', 'disk_format': 'raw',
        'hypervisor_type': 'docker'})


def upload(client, name, path, fields):
    """The public Glance image ``name`` holding the file ``path``, with
    ``fields`` (formats and properties): its id. Looks before it creates:
    an active image of that name with the same content and fields is kept,
    any other is replaced (an upload that died half-way, an older build;
    servers booted from it keep running)."""
    glance = client.endpoint('image')
    with open(path, 'rb') as f:
        md5 = hashlib.file_digest(f, 'md5').hexdigest()
    for image in client.call('GET', glance + '/v2/images?name=' + name)[
            'images']:
        if image['status'] == 'active' and image['checksum'] == md5 and all(
                image.get(k) == v for k, v in fields.items()):
            return image['id']
        client.call('DELETE', glance + '/v2/images/' + image['id'])
    image = client.call('POST', glance + '/v2/images', dict(
        fields, name=name, visibility='public'))
    with open(path, 'rb') as data:
        client.call('PUT', glance + '/v2/images/%s/file' % image['id'],
                    data=data, timeout=300, headers={
                        'Content-Type': 'application/octet-stream',
                        'Content-Length': str(os.path.getsize(path))})
    return image['id']
