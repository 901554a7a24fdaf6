"""instance + flavor + image -> container arguments, by table."""

from nova import exception as nova_exception
from oslo_utils import units
import testscenarios
import testtools

from nova_docker import infra
from nova_docker import naming
from nova_docker import spec
from tests import support

MiB = units.Mi


class MemoryTest(testscenarios.WithScenarios, testtools.TestCase):
    scenarios = [
        ('64 MiB', dict(ram=64, limit=64 * MiB)),
        ('engine minimum', dict(ram=6, limit=6 * MiB)),
        ('16 GiB', dict(ram=16384, limit=16384 * MiB)),
    ]

    def test_hard_limit_without_swap(self):
        args = spec.memory(support.make_flavor(memory_mb=self.ram))
        self.assertEqual({'mem_limit': self.limit,
                          'memswap_limit': self.limit}, args)


class MemoryTooSmallTest(testtools.TestCase):
    def test_fault_names_flavor_and_minimum(self):
        flavor = support.make_flavor(name='m1.nano', memory_mb=4)
        e = self.assertRaises(nova_exception.FlavorMemoryTooSmall,
                              spec.memory, flavor)
        self.assertIn('m1.nano has 4 MB', e.format_message())
        self.assertIn('at least 6 MB', e.format_message())


class CpuTest(testscenarios.WithScenarios, testtools.TestCase):
    scenarios = [
        ('1 vcpu', dict(vcpus=1, specs={}, expect=dict(
            cpu_period=100000, cpu_quota=100000, cpu_shares=1024))),
        ('overcommitted 4 vcpus on any host', dict(vcpus=4, specs={},
         expect=dict(cpu_period=100000, cpu_quota=400000, cpu_shares=4096))),
        ('shares spec', dict(vcpus=2, specs={'quota:cpu_shares': '300'},
         expect=dict(cpu_period=100000, cpu_quota=200000, cpu_shares=300))),
        ('period and per-vcpu quota', dict(
            vcpus=2, specs={'quota:cpu_period': '50000',
                            'quota:cpu_quota': '10000'},
            expect=dict(cpu_period=50000, cpu_quota=20000, cpu_shares=2048))),
        ('negative quota: no limit', dict(
            vcpus=1, specs={'quota:cpu_quota': '-1'},
            expect=dict(cpu_shares=1024))),
    ]

    def test_cpu(self):
        flavor = support.make_flavor(vcpus=self.vcpus, extra_specs=self.specs)
        self.assertEqual(self.expect, spec.cpu(flavor, 100000, 1024))


class BadExtraSpecTest(testscenarios.WithScenarios, testtools.TestCase):
    scenarios = [
        ('non-numeric shares', dict(specs={'quota:cpu_shares': 'lots'},
                                    words='quota:cpu_shares')),
        ('non-numeric period', dict(specs={'quota:cpu_period': '1e5x'},
                                    words='quota:cpu_period')),
        ('period too short', dict(specs={'quota:cpu_period': '10'},
                                  words='between 1000 and 1000000')),
        ('quota too small', dict(specs={'quota:cpu_quota': '5'},
                                 words='less than 1000')),
        ('shares too small', dict(specs={'quota:cpu_shares': '1'},
                                  words='at least 2')),
        ('non-numeric io', dict(specs={'quota:disk_read_bytes_sec': 'fast'},
                                words='quota:disk_read_bytes_sec')),
        ('zero io', dict(specs={'quota:disk_write_iops_sec': '0'},
                         words='must be positive')),
    ]

    def test_invalid_input_names_the_spec(self):
        flavor = support.make_flavor(extra_specs=self.specs)
        e = self.assertRaises(
            nova_exception.InvalidInput,
            lambda: (spec.cpu(flavor, 100000, 1024),
                     spec.disk_io(flavor, '/dev/vda')))
        self.assertIn(self.words, e.format_message())


class DiskIoTest(testscenarios.WithScenarios, testtools.TestCase):
    scenarios = [
        ('none', dict(specs={}, device='/dev/vda', expect={})),
        ('read bytes', dict(
            specs={'quota:disk_read_bytes_sec': '1048576'},
            device='/dev/vda',
            expect={'device_read_bps': [{'Path': '/dev/vda',
                                         'Rate': 1048576}]})),
        ('all four', dict(
            specs={'quota:disk_read_bytes_sec': '1',
                   'quota:disk_write_bytes_sec': '2',
                   'quota:disk_read_iops_sec': '3',
                   'quota:disk_write_iops_sec': '4'},
            device='/dev/sda',
            expect={'device_read_bps': [{'Path': '/dev/sda', 'Rate': 1}],
                    'device_write_bps': [{'Path': '/dev/sda', 'Rate': 2}],
                    'device_read_iops': [{'Path': '/dev/sda', 'Rate': 3}],
                    'device_write_iops': [{'Path': '/dev/sda', 'Rate': 4}]})),
        ('no device to throttle', dict(
            specs={'quota:disk_read_bytes_sec': '100'}, device=None,
            expect={})),
    ]

    def test_disk_io(self):
        flavor = support.make_flavor(extra_specs=self.specs)
        self.assertEqual(self.expect, spec.disk_io(flavor, self.device))


class UnenforcedTest(testscenarios.WithScenarios, testtools.TestCase):
    scenarios = [
        ('all enforceable', dict(
            specs={'quota:disk_read_bytes_sec': '1'}, root_gb=1,
            facts=spec.HostFacts('/dev/vda', True), expect=[])),
        ('total io has no engine limit', dict(
            specs={'quota:disk_total_bytes_sec': '1'}, root_gb=0,
            facts=spec.HostFacts('/dev/vda', True),
            expect=['quota:disk_total_bytes_sec'])),
        ('no device, no quota', dict(
            specs={'quota:disk_write_iops_sec': '1'}, root_gb=1,
            facts=spec.HostFacts(None, False),
            expect=['quota:disk_write_iops_sec', 'root disk size'])),
    ]

    def test_unenforced(self):
        flavor = support.make_flavor(extra_specs=self.specs,
                                     root_gb=self.root_gb)
        self.assertEqual(self.expect, spec.unenforced(flavor, self.facts))


class RootDiskTest(testscenarios.WithScenarios, testtools.TestCase):
    scenarios = [
        ('sized and supported', dict(root_gb=5, supported=True,
                                     expect={'storage_opt': {'size': '5G'}})),
        ('not supported', dict(root_gb=5, supported=False, expect={})),
        ('no root disk', dict(root_gb=0, supported=True, expect={})),
    ]

    def test_root_disk(self):
        flavor = support.make_flavor(root_gb=self.root_gb)
        self.assertEqual(self.expect, spec.root_disk(flavor, self.supported))


class CommandTest(testscenarios.WithScenarios, testtools.TestCase):
    scenarios = [
        ('image cmd', dict(config={'Cmd': ['sleep', '1']}, line=None,
                           expect={})),
        ('image entrypoint', dict(config={'Entrypoint': ['/init']},
                                  line=None, expect={})),
        ('os_command_line wins', dict(
            config={'Cmd': ['sleep', '1']},
            line='/bin/sh -c "echo hi; sleep 9"',
            expect={'command': ['/bin/sh', '-c', 'echo hi; sleep 9']})),
        ('os_command_line on an image without command', dict(
            config={}, line='sleep 5', expect={'command': ['sleep', '5']})),
        ('blank os_command_line ignored', dict(
            config={'Cmd': ['x']}, line='  ', expect={})),
    ]

    def test_command(self):
        self.assertEqual(self.expect,
                         spec.command(self.config, self.line, 'img'))


class BadCommandTest(testscenarios.WithScenarios, testtools.TestCase):
    scenarios = [
        ('no command at all', dict(config={'Cmd': None, 'Entrypoint': None},
                                   line=None, words='has no command')),
        ('no config', dict(config=None, line='', words='os_command_line')),
        ('unbalanced quotes', dict(config={}, line='sh -c "oops',
                                   words='cannot be parsed')),
    ]

    def test_image_unacceptable(self):
        e = self.assertRaises(nova_exception.ImageUnacceptable, spec.command,
                              self.config, self.line, 'img-1')
        self.assertIn('img-1', e.format_message())
        self.assertIn(self.words, e.format_message())


class BuildTest(testtools.TestCase):
    def setUp(self):
        super().setUp()
        self.conf = type('DockerConf', (), dict(
            cpu_period_us=100000, cpu_shares_per_vcpu=1024, pids_limit=4096,
            log_max_size='1m', root_disk_unenforced='warn',
            flavor_capabilities=['NET_RAW']))
        self.instance = support.make_instance(
            support.make_flavor(memory_mb=128, vcpus=2))

    def build(self, **kw):
        args = dict(instance=self.instance, host='cn1', image_id='img',
                    image_config={'Cmd': ['sh']}, os_command_line=None,
                    facts=spec.HostFacts(None, False),
                    docker_conf=self.conf)
        args.update(kw)
        return spec.build(**args).create_args

    def test_secure_defaults(self):
        args = self.build()
        self.assertIs(False, args['privileged'])
        self.assertEqual(['no-new-privileges:true'], args['security_opt'])
        self.assertEqual('none', args['network_mode'])
        self.assertEqual('private', args['ipc_mode'])
        self.assertIs(True, args['init'])
        self.assertEqual(['ALL'], args['cap_drop'])
        self.assertEqual(sorted(spec.CAPABILITIES), args['cap_add'])
        for loosening in ('pid_mode', 'volumes', 'mounts', 'devices',
                          'userns_mode', 'uts_mode'):
            self.assertNotIn(loosening, args)

    def test_image_properties_cannot_loosen_isolation(self):
        args = self.build(os_command_line='--privileged sh')
        self.assertIs(False, args['privileged'])
        self.assertEqual(['--privileged', 'sh'], args['command'])

    def test_identity_and_limits(self):
        args = self.build()
        self.assertEqual(self.instance.hostname, args['hostname'])
        self.assertEqual({naming.INSTANCE_UUID: self.instance.uuid,
                          naming.INSTANCE_NAME: self.instance.name,
                          naming.COMPUTE_HOST: 'cn1',
                          naming.IMAGE_ID: 'img'}, args['labels'])
        self.assertEqual(128 * MiB, args['mem_limit'])
        self.assertEqual(200000, args['cpu_quota'])
        self.assertEqual(4096, args['pids_limit'])
        self.assertEqual('json-file', args['log_config']['type'])

    def test_no_pids_limit(self):
        self.conf.pids_limit = -1
        self.assertNotIn('pids_limit', self.build())


class NamesTest(testscenarios.WithScenarios, testtools.TestCase):
    scenarios = [
        ('short', dict(hostname='web-1', expect=('web-1', ''))),
        ('fqdn', dict(hostname='web-1.example.org',
                      expect=('web-1', 'example.org'))),
        ('long first label (2.94 allows 255 characters)', dict(
            hostname='x' * 70 + '.guest-test.domaintest.com',
            expect=('x' * 63, 'guest-test.domaintest.com'))),
    ]

    def test_names(self):
        instance = support.make_instance(hostname=self.hostname)
        self.assertEqual(self.expect, spec.names(instance))
        args = spec.identity(instance, 'cn1', 'img')
        self.assertEqual(self.expect[0], args['hostname'])
        self.assertEqual(self.expect[1], args.get('domainname', ''))


class CapabilitiesTest(testscenarios.WithScenarios, testtools.TestCase):
    """Least capabilities; a flavor adds only what the operator allows."""
    scenarios = [
        ('default', dict(specs={}, allowed=['NET_RAW'], extra=set())),
        ('allowed opt-in', dict(specs={'docker:cap_add': 'net_raw'},
                                allowed=['NET_RAW'], extra={'NET_RAW'})),
        ('CAP_ prefix, spaces', dict(
            specs={'docker:cap_add': ' CAP_MKNOD, NET_RAW '},
            allowed=['MKNOD', 'CAP_NET_RAW'], extra={'MKNOD', 'NET_RAW'})),
    ]

    def test_caps(self):
        args = spec.capabilities(
            support.make_flavor(extra_specs=self.specs), self.allowed)
        self.assertEqual(['ALL'], args['cap_drop'])
        self.assertEqual(sorted(set(spec.CAPABILITIES) | self.extra),
                         args['cap_add'])
        for dropped in ('NET_RAW', 'MKNOD', 'SETFCAP', 'SETPCAP',
                        'AUDIT_WRITE'):
            if dropped not in self.extra:
                self.assertNotIn(dropped, args['cap_add'])


class TerminalTest(testscenarios.WithScenarios, testtools.TestCase):
    """docker:tty puts the workload on a terminal, stdin open."""
    scenarios = [
        ('default', dict(specs={}, expect={})),
        ('true', dict(specs={'docker:tty': 'True'},
                      expect={'tty': True, 'stdin_open': True})),
        ('false', dict(specs={'docker:tty': 'false'}, expect={})),
    ]

    def test_terminal(self):
        self.assertEqual(self.expect, spec.terminal(
            support.make_flavor(extra_specs=self.specs)))


class TerminalRefusedTest(testtools.TestCase):

    def test_neither_true_nor_false_is_refused(self):
        error = self.assertRaises(
            nova_exception.InvalidInput, spec.terminal,
            support.make_flavor(extra_specs={'docker:tty': 'sometimes'}))
        self.assertIn('docker:tty=sometimes is neither true nor false',
                      str(error))


class CapabilitiesRefusedTest(testscenarios.WithScenarios,
                              testtools.TestCase):
    scenarios = [
        ('not allowed', dict(cap='SYS_ADMIN', allowed=['NET_RAW'])),
        ('nothing allowed', dict(cap='NET_RAW', allowed=[])),
    ]

    def test_refused_names_spec_and_option(self):
        flavor = support.make_flavor(
            extra_specs={'docker:cap_add': self.cap})
        e = self.assertRaises(nova_exception.InvalidInput,
                              spec.capabilities, flavor, self.allowed)
        self.assertIn('docker:cap_add', e.format_message())
        self.assertIn('asks for %s' % self.cap, e.format_message())
        self.assertIn('flavor_capabilities', e.format_message())


class RootDiskRefusedTest(testtools.TestCase):
    def test_refused_where_not_enforceable_if_the_operator_says_so(self):
        e = self.assertRaises(nova_exception.InvalidInput, spec.root_disk,
                              support.make_flavor(root_gb=1), False, True)
        self.assertIn('cannot enforce', e.format_message())
        self.assertIn('root_disk_unenforced', e.format_message())


class EnvironmentTest(testtools.TestCase):
    def test_huge_env_is_refused(self):
        config = {'Cmd': ['sh'], 'Env': ['A=' + 'x' * spec.MAX_ENV_BYTES]}
        e = self.assertRaises(nova_exception.ImageUnacceptable,
                              spec.command, config, None, 'img')
        self.assertIn('Env is larger than', e.format_message())

    def test_env_of_wrong_type_is_refused(self):
        self.assertRaises(nova_exception.ImageUnacceptable, spec.command,
                          {'Cmd': ['sh'], 'Env': 'PATH=/bin'}, None, 'img')


class PingSysctlTest(testtools.TestCase):
    def test_ping_without_raw_sockets_where_namespaces_are_made(self):
        instance = support.make_instance()
        self.assertEqual('0 2147483647', spec.isolation()['sysctls'][
            'net.ipv4.ping_group_range'])
        self.assertEqual('0 2147483647', infra.create_args(
            instance, 'cn1', '1m')['sysctls'][
                'net.ipv4.ping_group_range'])
        self.assertNotIn('sysctls', spec.joined(spec.isolation(), 'x'))
