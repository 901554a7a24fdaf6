"""How each engine's Docker API differs (engine.dialect), on the answers
the real engines give (recorded from Docker 20.10 and Podman 4.3)."""

import resource
from unittest import mock

import testscenarios
import testtools

from nova_docker.engine import dialect

DOCKER_VERSION = {
    'Version': '20.10.24+dfsg1', 'ApiVersion': '1.41',
    'Components': [{'Name': 'Engine', 'Version': '20.10.24+dfsg1'},
                   {'Name': 'containerd', 'Version': '1.6.20~ds1'},
                   {'Name': 'runc', 'Version': '1.1.5+ds1'},
                   {'Name': 'docker-init', 'Version': '0.19.0'}]}
PODMAN_VERSION = {
    'Version': '4.3.1', 'ApiVersion': '1.41',
    'Components': [{'Name': 'Podman Engine', 'Version': '4.3.1'},
                   {'Name': 'Conmon', 'Version': 'conmon version 2.1.6'},
                   {'Name': 'OCI Runtime (runc)', 'Version': 'runc 1.1.5'}]}


class DetectTest(testscenarios.WithScenarios, testtools.TestCase):
    scenarios = [
        ('docker', dict(version=DOCKER_VERSION, name='docker',
                        engine_name='Docker engine', service='dockerd')),
        ('podman', dict(version=PODMAN_VERSION, name='podman',
                        engine_name='Podman engine',
                        service='podman system service')),
        ('an engine without components', dict(
            version={'Version': '19.03.0'}, name='docker',
            engine_name='Docker engine', service='dockerd')),
    ]

    def test_detect(self):
        detected = dialect.detect(self.version)
        self.assertEqual(self.name, detected.name)
        # What faults and the compute service's disabled reason say.
        self.assertEqual(self.engine_name, detected.engine_name)
        self.assertEqual(self.service, detected.service)


def _limits(nofile_hard, nproc_hard):
    hard = {resource.RLIMIT_NOFILE: nofile_hard,
            resource.RLIMIT_NPROC: nproc_hard}
    return lambda kind: (1024, hard[kind])


class PodmanUlimitsTest(testscenarios.WithScenarios, testtools.TestCase):
    scenarios = [
        # This project's test machines: the host's limits are the ceiling
        # for open files, conmon's 32768 for processes.
        ('host below podman', dict(
            limits=_limits(20000, 96367), nofile=20000, nproc=32768)),
        ('unlimited host', dict(
            limits=_limits(resource.RLIM_INFINITY, resource.RLIM_INFINITY),
            nofile=dialect.PODMAN_NOFILE, nproc=dialect.PODMAN_NPROC)),
        ('small host', dict(
            limits=_limits(1024, 4096), nofile=1024, nproc=4096)),
    ]

    def test_limits(self):
        self.assertEqual(
            [{'Name': 'nofile', 'Soft': self.nofile, 'Hard': self.nofile},
             {'Name': 'nproc', 'Soft': self.nproc, 'Hard': self.nproc}],
            dialect.podman_ulimits(self.limits))


class DialectTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.docker = dialect.detect(DOCKER_VERSION)
        self.podman = dialect.detect(PODMAN_VERSION)

    def test_podman_containers_get_explicit_ulimits(self):
        args = self.podman.create_args({'mem_limit': 64})
        self.assertEqual(64, args['mem_limit'])
        self.assertEqual(['nofile', 'nproc'],
                         [u['Name'] for u in args['ulimits']])

    def test_ulimits_asked_for_are_kept(self):
        mine = [{'Name': 'nofile', 'Soft': 10, 'Hard': 10}]
        self.assertEqual(mine, self.podman.create_args(
            {'ulimits': mine})['ulimits'])

    def test_podman_no_pids_limit_is_unlimited_not_its_default(self):
        self.assertEqual(-1, self.podman.create_args({})['pids_limit'])
        self.assertEqual(64, self.podman.create_args(
            {'pids_limit': 64})['pids_limit'])

    def test_docker_containers_inherit_the_engines_limits(self):
        self.assertEqual({'mem_limit': 64},
                         self.docker.create_args({'mem_limit': 64}))

    def test_podman_filters_deaths_by_its_own_name(self):
        actions = ('start', 'die', 'pause', 'unpause', 'oom')
        self.assertEqual(['start', 'died', 'pause', 'unpause', 'oom'],
                         self.podman.event_filter(actions))
        self.assertEqual(list(actions), self.docker.event_filter(actions))

    def test_commit_blanks_labels_as_each_engine_takes_it(self):
        self.assertEqual({'conf': {'Labels': {'a.b': '', 'c': ''}}},
                         self.docker.commit_args(('a.b', 'c')))
        self.assertEqual({'changes': ['LABEL a.b=""', 'LABEL c=""']},
                         self.podman.commit_args(('a.b', 'c')))

    def test_restart_marker(self):
        # Podman's info ID is new on every call (not a marker) and info is
        # slow there: the watch only pings it.
        api = mock.Mock(**{'info.return_value': {'ID': 'JQ2L:XDEN'}})
        self.assertEqual('JQ2L:XDEN', self.docker.restart_marker(api))
        api = mock.Mock()
        self.assertIsNone(self.podman.restart_marker(api))
        api.ping.assert_called_once_with()
        api.info.assert_not_called()

    def test_podman_ended_workload_awaiting_clean_up_has_exited(self):
        # Podman's inspect of an OOM-killed workload, a second before its
        # clean-up ran.
        record = {'State': {'Status': 'stopped', 'Running': False,
                            'ExitCode': 137}}
        self.assertEqual('exited',
                         self.podman.record(record)['State']['Status'])
        for status in ('created', 'running', 'paused', 'exited'):
            self.assertEqual(status, self.podman.status(status))
        self.assertEqual('stopped', self.docker.status('stopped'))

    def test_podman_tags_read_as_the_driver_named_them(self):
        for listed, short in (
                ('docker.io/nova-glance/abc:1', 'nova-glance/abc:1'),
                ('localhost/nova-docker/infra:d6ea', 'nova-docker/infra:d6ea'),
                ('quay.example:5000/app:1', 'quay.example:5000/app:1')):
            self.assertEqual(short, self.podman.short_tag(listed))
        self.assertEqual('docker.io/x/y:1',
                         self.docker.short_tag('docker.io/x/y:1'))

    def test_podman_link_target_only_for_links(self):
        # Podman's stats of /etc and of /bin/sh (busybox's link).
        directory = {'name': 'etc', 'mode': 2147484141, 'linkTarget': '/etc'}
        link = {'name': 'busybox', 'mode': 134218239,
                'linkTarget': '/bin/busybox'}
        self.assertEqual('', self.podman.path_stat(directory)['linkTarget'])
        self.assertEqual('/bin/busybox',
                         self.podman.path_stat(link)['linkTarget'])
        self.assertEqual(directory, self.docker.path_stat(directory))

    def test_podman_joined_container_takes_the_owners_hostname(self):
        args = {'network_mode': 'container:nova-x-infra',
                'volumes': {'/i/etc/hosts': {'bind': '/etc/hosts',
                                             'mode': 'ro'}}}
        owner = {'Config': {'Hostname': 'vm-1', 'Domainname': ''},
                 'HostsPath': '/run/x/userdata/hosts'}
        self.assertFalse(self.docker.joined_needs_owner)
        self.assertEqual(args, self.docker.joined(args, owner))
        self.assertTrue(self.podman.joined_needs_owner)
        # The server's own /etc/hosts stays, not the owner's.
        self.assertEqual(dict(args, hostname='vm-1'),
                         self.podman.joined(args, owner))

    def test_a_container_made_again_joins_its_new_owner(self):
        config = {'Hostname': 'old', 'Domainname': '', 'Image': 'x',
                  'HostConfig': {'Binds': ['/cd:/config:ro',
                                           '/i/etc/hosts:/etc/hosts:ro'],
                                 'Ulimits': [{'Name': 'RLIMIT_NOFILE',
                                              'Soft': 9, 'Hard': 9}]}}
        owner = {'Config': {'Hostname': 'vm-1'}, 'HostsPath': '/run/new/hosts'}
        self.assertEqual({'Image': 'x', 'HostConfig': config['HostConfig']},
                         self.docker.rejoined(config, None))
        self.assertEqual(
            {'Hostname': 'vm-1', 'Domainname': '', 'Image': 'x',
             'HostConfig': {'Binds': ['/cd:/config:ro',
                                      '/i/etc/hosts:/etc/hosts:ro'],
                            'Ulimits': [{'Name': 'nofile',
                                         'Soft': 9, 'Hard': 9}]}},
            self.podman.rejoined(config, owner))
