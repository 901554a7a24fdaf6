"""End to end on the all-in-one with its KVM host (``up --kvm``): a
container and a real virtual machine side by side, each image on its kind
of host.

The VM boots the all-in-one's ``tiny-vm`` image (Debian's kernel and a
busybox initramfs, nova_docker/aio/vm_image.py) under Nova's libvirt
driver; the host is looked at as an operator would: ``virsh``, ``docker``
and the instance directory.
"""

import json
import os
import subprocess
import unittest

from nova_docker.aio import cloud
from nova_docker.aio import layout
from tests.e2e.test_cli import CloudTestCase, ENV, STATE, inspect, osc

with open(os.path.join(STATE, 'settings.json')) as f:
    SETTINGS = json.load(f)
DOCKER_HOST = SETTINGS['compute_host']
KVM_HOST = DOCKER_HOST + '-kvm'
VM_IMAGE = 'tiny-vm'  # nova_docker/aio/vm_image.py
MARKER = 'nova-docker-vm: up'
NETWORKED = SETTINGS.get('network') == 'ovs'
# nova_docker/aio/kvm.py: in the KVM host's own namespace when networked.
KVM_INSTANCES = (os.path.join(STATE, 'hosts', 'kvm', 'nova', 'instances')
                 if NETWORKED else os.path.join(STATE, 'nova-kvm',
                                                'instances'))


def domains():
    """Every libvirt domain on the KVM host, running or not."""
    out = subprocess.run(['virsh', '-c', 'qemu:///system', 'list', '--all',
                          '--name'], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    return set(out.split())


def kvm_switch_ports():
    """The ports on the KVM host's own br-int (its Open vSwitch)."""
    db = 'unix:' + os.path.join(STATE, 'hosts', 'kvm', 'ovs', 'db.sock')
    return subprocess.run(['ovs-vsctl', '--db=' + db, 'list-ports',
                           'br-int'], capture_output=True, text=True,
                          check=True, timeout=60).stdout.split()


class KVMCase(CloudTestCase):

    @classmethod
    def setUpClass(cls):
        if not SETTINGS.get('kvm'):
            raise unittest.SkipTest('this all-in-one has no KVM host '
                                    '(up --kvm)')
        super().setUpClass()

    def boot(self, image, flavor='m1.micro', host=None,
             nic=('--nic', 'none')):
        """``openstack server create --wait``; the server as shown after,
        whether it went ACTIVE or not."""
        name = self.unique('server')
        # --host is an option of ``server create`` (microversion 2.74).
        version, target = (['--os-compute-api-version', '2.74'],
                           ['--host', host]) if host else ([], [])
        proc = subprocess.run(
            ['openstack', *version, 'server', 'create', *target,
             '--image', image, '--flavor', flavor, *nic, '--wait', name,
             '-f', 'json'], env=ENV, text=True, capture_output=True,
            timeout=300)
        # osc() gives the parsed server, or the process if it failed.
        server = osc('server', 'show', name, '-f', 'json', check=False)
        if not isinstance(server, dict):
            self.fail('no server %s: %s' % (name, proc.stderr))
        self.addCleanup(osc, 'server', 'delete', '--wait', server['id'],
                        check=False)
        server['create_stderr'] = proc.stderr
        return server


class TestContainerBesideVM(KVMCase):

    def boot_pair(self, nic):
        """A container and a VM, both ACTIVE on their own hosts; the VM's
        console log once its init has run."""
        container = self.boot('busybox', flavor='m1.tiny', nic=nic)
        vm = self.boot(VM_IMAGE, nic=nic)
        for server, host in ((container, DOCKER_HOST), (vm, KVM_HOST)):
            self.assertEqual('ACTIVE', server['status'],
                             server.get('fault') or server['create_stderr'])
            self.assertEqual(host, server['OS-EXT-SRV-ATTR:host'])
        self.assertIn(vm['OS-EXT-SRV-ATTR:instance_name'], domains())
        self.assertIsNotNone(inspect(container['id']))
        self.assertIsNone(inspect(vm['id']))
        # Under emulation the kernel takes tens of seconds to its init.
        log = self.console_shows(vm['id'], MARKER, timeout=180)
        self.assertIn(MARKER, log)
        return container, vm, log

    def test_container_and_vm_on_their_hosts(self):
        container, vm, _ = self.boot_pair(('--nic', 'none'))
        domain = vm['OS-EXT-SRV-ATTR:instance_name']
        for server in (container, vm):
            osc('server', 'delete', '--wait', server['id'])
        self.assertNotIn(domain, domains())
        self.assertFalse(os.path.exists(os.path.join(KVM_INSTANCES,
                                                     vm['id'])))
        self.assertIsNone(inspect(container['id']))

    def test_container_pings_vm_on_private(self):
        if not NETWORKED:
            self.skipTest('this all-in-one has no Neutron agents')
        container, vm, log = self.boot_pair(('--network', 'private'))
        port = self.assert_container_reaches_vm(container['id'], vm['id'],
                                                log)
        osc('server', 'delete', '--wait', vm['id'])
        # Nothing left of the VM's port: in Neutron, nor its tap on the
        # KVM host's switch.
        self.assertIsInstance(osc('port', 'show', port, '-f', 'json',
                                  check=False), subprocess.CompletedProcess)
        self.assertNotIn('tap' + port[:11], kvm_switch_ports())

    def assert_container_reaches_vm(self, container_id, vm_id, log):
        ports = osc('port', 'list', '--server', vm_id, '-f', 'json')
        self.assertEqual(1, len(ports), ports)
        port = osc('port', 'show', ports[0]['ID'], '-f', 'json')
        self.assertEqual(KVM_HOST, port['binding_host_id'])
        self.assertEqual('ACTIVE', port['status'])
        for ip in port['fixed_ips']:
            address = ip['ip_address']
            # The guest set the address it read from its config drive.
            self.assertIn(address + '/', log)
            flag = ['-6'] if ':' in address else []
            for attempt in range(3):
                ping = subprocess.run(
                    ['docker', 'exec', 'nova-' + container_id, 'ping',
                     *flag, '-c', '2', '-W', '3', address],
                    capture_output=True, text=True, timeout=60)
                if ping.returncode == 0:
                    break
            self.assertEqual(0, ping.returncode, ping.stdout + ping.stderr)
        self.assertIn('tap' + port['id'][:11], kvm_switch_ports())
        return port['id']


class TestWrongPairing(KVMCase):
    """Each image kind on the other kind of host, asked for by name
    (``--host``, which the scheduler's filters still check)."""

    def assert_no_host(self, server, reason):
        """ERROR with Nova's "No valid host", nothing made anywhere, and the
        operator's reason in nova-scheduler's log for this request."""
        self.assertEqual('ERROR', server['status'])
        self.assertIn('No valid host', server['fault']['message'])
        self.assertIsNone(server['OS-EXT-SRV-ATTR:host'])
        self.assertIsNone(inspect(server['id']))
        request = osc('server', 'event', 'list', server['id'],
                      '-f', 'json')[0]['Request ID']
        with open(cloud.log_of(layout.Layout(STATE), 'nova-scheduler')) as f:
            said = ''.join(line for line in f if request in line)
        self.assertIn(reason, said)

    def test_docker_image_on_the_kvm_host(self):
        self.assert_no_host(self.boot('busybox', host=KVM_HOST),
                            "'ImagePropertiesFilter: (start: 1, end: 0)'")

    def test_vm_image_on_the_docker_host(self):
        before = domains()
        # Placement's image-type prefilter: the Docker host reports no
        # COMPUTE_IMAGE_TYPE_AMI, so it is no candidate at all.
        self.assert_no_host(self.boot(VM_IMAGE, host=DOCKER_HOST),
                            'Got no allocation candidates')
        self.assertEqual(before, domains())
