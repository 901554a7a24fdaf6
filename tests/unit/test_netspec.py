"""Infra container arguments, the workload joining it, the infra image
archive and the VIF checks, by table."""

import io
import json
import tarfile
import threading

from nova.network import model
import testtools

from nova_docker import exception
from nova_docker import infra
from nova_docker import naming
from nova_docker import network
from nova_docker import spec
from tests import support


class InfraSpecTest(testtools.TestCase):

    def test_infra_owns_hostname_without_engine_network(self):
        instance = support.make_instance(hostname='web-1')
        args = infra.create_args(instance, 'cmp1', '1m')
        self.assertEqual('none', args['network_mode'])
        self.assertEqual('web-1', args['hostname'])
        # Written by the driver once the ports are known (etcfiles).
        self.assertNotIn('dns', args)
        self.assertNotIn('extra_hosts', args)
        self.assertEqual({naming.INFRA_FOR: instance.uuid,
                          naming.COMPUTE_HOST: 'cmp1'}, args['labels'])
        # Never counted as an instance by listings.
        self.assertNotIn(naming.INSTANCE_UUID, args['labels'])
        self.assertEqual(['ALL'], args['cap_drop'])
        self.assertFalse(args['privileged'])
        self.assertEqual('0', args['sysctls'][
            'net.ipv6.conf.default.disable_ipv6'])

    def test_ports_still_allocating_only_while_nova_has_not_answered(self):
        answer = threading.Event()
        pending = model.NetworkInfoAsyncWrapper(
            lambda: answer.wait(10) and model.NetworkInfo([]))
        self.assertTrue(infra.allocating(pending))
        answer.set()
        support.wait_for(lambda: not infra.allocating(pending), 10,
                         'the allocation to be answered')
        self.assertEqual([], list(pending))
        self.assertFalse(infra.allocating(pending))
        self.assertFalse(infra.allocating(model.NetworkInfo([])))
        self.assertFalse(infra.allocating(None))

    def test_workload_joins_the_infra_namespace(self):
        args = {'hostname': 'web-1', 'network_mode': 'none', 'dns': ['x'],
                'mem_limit': 1}
        joined = spec.joined(args, 'nova-u-infra')
        self.assertEqual({'network_mode': 'container:nova-u-infra',
                          'mem_limit': 1}, joined)
        self.assertEqual('none', args['network_mode'])  # input untouched


class InfraArchiveTest(testtools.TestCase):

    def test_same_binary_gives_the_same_archive(self):
        one = infra.archive(b'\x7fELF pause', 'nova-docker/infra:x', 'x86_64')
        two = infra.archive(b'\x7fELF pause', 'nova-docker/infra:x', 'x86_64')
        self.assertEqual(one, two)

    def test_archive_is_one_image_with_the_pause_entrypoint(self):
        data = infra.archive(b'bin', 'nova-docker/infra:abc', 'aarch64')
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            manifest = json.load(tar.extractfile('manifest.json'))
            config = json.load(tar.extractfile(manifest[0]['Config']))
            layer = tar.extractfile(manifest[0]['Layers'][0]).read()
        self.assertEqual(['nova-docker/infra:abc'], manifest[0]['RepoTags'])
        self.assertEqual(['/pause', '-P'], config['config']['Entrypoint'])
        self.assertEqual('arm64', config['architecture'])
        with tarfile.open(fileobj=io.BytesIO(layer)) as tar:
            member = tar.getmember('pause')
            self.assertEqual(0o755, member.mode)
            self.assertEqual(b'bin', tar.extractfile(member).read())


def _vif(vif_type, active=True, port_id='p1'):
    return model.VIF(id=port_id, type=vif_type, active=active,
                     address='fa:16:3e:00:00:01',
                     network=model.Network(id='n', subnets=[]))


class VifChecksTest(testtools.TestCase):

    def test_unsupported_type_names_port_type_and_supported(self):
        instance = support.make_instance()
        e = self.assertRaises(
            exception.UnsupportedVIFType, network.check_supported, instance,
            [_vif('ovs'), _vif('macvtap', port_id='p2')])
        self.assertIn('p2', str(e))
        self.assertIn('"macvtap"', str(e))
        self.assertIn('ovs', str(e))

    def test_events_only_for_ports_not_yet_active(self):
        self.assertEqual(
            [('network-vif-plugged', 'p2')],
            network.events_to_wait_for([_vif('ovs'),
                                        _vif('ovs', False, 'p2')]))
        self.assertEqual([], network.events_to_wait_for(None))

    def test_free_name_is_the_lowest_unused(self):
        self.assertEqual('eth0', network.free_name({'lo'}))
        self.assertEqual('eth2', network.free_name({'lo', 'eth0', 'eth1',
                                                    'eth3'}))
