"""A networked server's /etc/hosts and /etc/resolv.conf, as files the
containers joining its namespace bind."""

import os

import fixtures
from oslo_config import fixture as config_fixture
import testtools

from nova_docker import configdrive
from nova_docker import etcfiles
from nova_docker import netplan
from tests import support


class EtcFilesTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.conf = self.useFixture(config_fixture.Config())
        self.instances = self.useFixture(fixtures.TempDir()).path
        self.conf.config(instances_path=self.instances)
        self.instance = support.make_instance(hostname='web-1.example.org')

    def plan(self, dns):
        interface = netplan.Interface(
            **{field: None for field in netplan.Interface._fields})
        return netplan.Plan(
            interfaces=[interface._replace(
                addresses=[('10.0.0.5', 24), ('fd00::5', 64)])],
            dns=dns)

    def read(self, create_args, target):
        sources = [mount['Source'] for mount in create_args['mounts']
                   if mount == dict(mount, Type='bind', Target=target,
                                    ReadOnly=True)]
        if not sources:
            return None
        with open(sources[0]) as f:
            return f.read()

    def test_hostname_at_first_address_and_the_subnets_dns_servers(self):
        etcfiles.write(self.instance, self.plan(['10.0.0.2', 'fd00::2']))
        drive = configdrive.mount_args('/cd')
        args = etcfiles.mounted(drive, self.instance)
        self.assertEqual(drive['mounts'][0], args['mounts'][0])
        hosts = self.read(args, '/etc/hosts')
        self.assertIn('127.0.0.1\tlocalhost\n', hosts)
        self.assertTrue(hosts.endswith('10.0.0.5\tweb-1\n'))
        self.assertEqual('nameserver 10.0.0.2\nnameserver fd00::2\n',
                         self.read(args, '/etc/resolv.conf'))

    def test_no_dns_servers_leaves_the_engines_resolv_conf(self):
        etcfiles.write(self.instance, self.plan([]))
        args = etcfiles.mounted({}, self.instance)
        self.assertIsNotNone(self.read(args, '/etc/hosts'))
        self.assertIsNone(self.read(args, '/etc/resolv.conf'))

    def test_written_again_then_removed_with_nothing_left(self):
        etcfiles.write(self.instance, self.plan(['10.0.0.2']))
        etcfiles.write(self.instance, self.plan([]))
        self.assertIsNone(self.read(etcfiles.mounted({}, self.instance),
                                    '/etc/resolv.conf'))
        etcfiles.remove(self.instance)
        etcfiles.remove(self.instance)
        self.assertEqual([], os.listdir(self.instances))
