"""The KVM host's pure parts: the test image's initramfs (a real newc
archive, read back here as the kernel would unpack it), module order from
modules.dep, the build cache, and the libvirt driver's configuration."""

import gzip
import os
import tempfile
import unittest

from nova_docker.aio import configs
from nova_docker.aio import kvm
from nova_docker.aio import layout as layout_mod
from nova_docker.aio import vm_image


def read_newc(data):
    """{name: (mode, bytes)} of a cpio newc archive."""
    entries, pos = {}, 0
    while True:
        assert data[pos:pos + 6] == b'070701', data[pos:pos + 6]
        fields = [int(data[pos + 6 + 8 * i:pos + 14 + 8 * i], 16)
                  for i in range(13)]
        mode, size, namesize = fields[1], fields[6], fields[11]
        pos += 110
        name = data[pos:pos + namesize - 1].decode()
        pos += namesize + (-(110 + namesize) % 4)
        body = data[pos:pos + size]
        pos += size + (-size % 4)
        if name == 'TRAILER!!!':
            return entries
        entries[name] = (mode, body)


class FakeKernel(object):
    """A modules directory with a modules.dep like Debian's."""

    def __init__(self):
        self.dir = tempfile.mkdtemp()
        deps = {
            'kernel/drivers/virtio/virtio_ring.ko': [],
            'kernel/drivers/virtio/virtio.ko': [],
            'kernel/drivers/virtio/virtio_pci.ko': [
                'kernel/drivers/virtio/virtio.ko',
                'kernel/drivers/virtio/virtio_ring.ko'],
            'kernel/drivers/net/virtio_net.ko': [
                'kernel/drivers/virtio/virtio.ko',
                'kernel/drivers/virtio/virtio_ring.ko'],
            'kernel/drivers/block/virtio_blk.ko': [
                'kernel/drivers/virtio/virtio.ko'],
            'kernel/drivers/ata/ahci.ko': [],
            'kernel/drivers/ata/ata_piix.ko': [],
            'kernel/drivers/scsi/sr_mod.ko': [],
            'kernel/fs/isofs/isofs.ko': [],
            'kernel/fs/unused/other.ko': [],
        }
        with open(os.path.join(self.dir, 'modules.dep'), 'w') as f:
            for path, needs in deps.items():
                f.write('%s: %s\n' % (path, ' '.join(needs)))
                os.makedirs(os.path.join(self.dir, os.path.dirname(path)),
                            exist_ok=True)
                with open(os.path.join(self.dir, path), 'wb') as m:
                    m.write(b'module ' + path.encode())


class TestInitramfs(unittest.TestCase):

    def setUp(self):
        self.kernel = FakeKernel()
        self.busybox = os.path.join(self.kernel.dir, 'busybox')
        with open(self.busybox, 'wb') as f:
            f.write(b'\x7fELF busybox')

    def test_modules_load_after_what_they_need(self):
        order = [os.path.basename(p) for p in
                 vm_image.load_order(self.kernel.dir)]
        self.assertNotIn('other.ko', order)
        self.assertEqual(len(order), len(set(order)))
        for module, needs in (('virtio_pci.ko', 'virtio_ring.ko'),
                              ('virtio_pci.ko', 'virtio.ko'),
                              ('virtio_net.ko', 'virtio.ko')):
            self.assertLess(order.index(needs), order.index(module))

    def test_archive_holds_init_busybox_and_modules(self):
        files = read_newc(gzip.decompress(vm_image.build_initramfs(
            self.busybox, self.kernel.dir)))
        mode, init = files['init']
        self.assertEqual(0o100755, mode)
        self.assertIn(vm_image.MARKER.encode(), init)
        self.assertIn(b'network_data.json', init)
        self.assertEqual(b'\x7fELF busybox', files['bin/busybox'][1])
        self.assertEqual(b'module kernel/fs/isofs/isofs.ko',
                         files['lib/modules/isofs.ko'][1])
        # init inserts them in load order.
        line = next(x for x in init.decode().splitlines()
                    if x.startswith('for m in'))
        self.assertLess(line.index('virtio_ring.ko'),
                        line.index('virtio_net.ko'))

    def test_build_is_cached_until_the_recipe_changes(self):
        layout = layout_mod.Layout(tempfile.mkdtemp())
        vmlinuz = os.path.join(self.kernel.dir, 'vmlinuz')
        open(vmlinuz, 'w').close()
        found = (vmlinuz, self.kernel.dir)
        orig = vm_image.find_kernel
        vm_image.find_kernel = lambda: found
        self.addCleanup(setattr, vm_image, 'find_kernel', orig)
        first = vm_image.build(layout, self.busybox)
        built = os.stat(first['ramdisk']).st_mtime_ns
        self.assertEqual(vm_image.ROOT_DISK_BYTES,
                         os.path.getsize(first['disk']))
        self.assertEqual(first, vm_image.build(layout, self.busybox))
        self.assertEqual(built, os.stat(first['ramdisk']).st_mtime_ns)
        with open(os.path.join(os.path.dirname(first['ramdisk']),
                               'recipe'), 'w') as f:
            f.write('an older recipe')
        vm_image.build(layout, self.busybox)
        self.assertNotEqual(built, os.stat(first['ramdisk']).st_mtime_ns)


class TestKVMHostConfig(unittest.TestCase):

    def test_libvirt_driver_under_its_own_host_name(self):
        layout = layout_mod.Layout(tempfile.mkdtemp(), network='none')
        conf = kvm.nova_conf(layout, 'qemu')
        self.assertEqual('libvirt.LibvirtDriver',
                         conf['DEFAULT']['compute_driver'])
        self.assertEqual(layout.compute_host + '-kvm',
                         conf['DEFAULT']['host'])
        self.assertEqual('qemu', conf['libvirt']['virt_type'])
        self.assertNotIn('docker', conf)
        self.assertNotEqual(configs.nova(layout)['DEFAULT']['state_path'],
                            conf['DEFAULT']['state_path'])

    def test_networked_kvm_host_plugs_into_its_own_switch(self):
        layout = layout_mod.Layout(tempfile.mkdtemp(), network='ovs')
        conf = kvm.nova_conf(layout, 'kvm')
        own = kvm.networked_host(layout)
        self.assertEqual(own.ovsdb, conf['os_vif_ovs']['ovsdb_connection'])
        self.assertNotEqual(configs.OVSDB, own.ovsdb)
        argv = kvm._own_mounts(layout, ['/usr/sbin/libvirtd'])
        self.assertIn('mount --bind %s %s' % (own.ovs_run, kvm.OVS_RUNDIR),
                      argv[7])
        self.assertEqual(['exec', own.netns, '--', '/usr/sbin/libvirtd'],
                         argv[-4:])

    def test_scheduler_options_are_the_shared_files(self):
        layout = layout_mod.Layout(tempfile.mkdtemp())
        nova = configs.nova(layout)
        self.assertIn('ImagePropertiesFilter',
                      nova['filter_scheduler']['enabled_filters'])
        self.assertEqual('True', nova['scheduler'][
            'query_placement_for_image_type_support'])
