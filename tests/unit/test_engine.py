"""Engine error translation and the engine adapter's small parsers."""

import datetime
import functools
import os
from unittest import mock

from docker import errors as docker_errors
from nova import exception as nova_exception
import requests
import testscenarios
import testtools

from nova_docker import engine
from nova_docker.engine import connection as engine_connection
from nova_docker.engine import guest as engine_guest
from nova_docker.engine import images as engine_images
from nova_docker import exception
from tests.unit import test_dialect


def _api_error(status, explanation='engine says no'):
    response = requests.Response()
    response.status_code = status
    return docker_errors.APIError('HTTP %d' % status, response=response,
                                  explanation=explanation)


def _not_found():
    response = requests.Response()
    response.status_code = 404
    return docker_errors.NotFound('404', response=response,
                                  explanation='No such container: x')


class TranslationTest(testscenarios.WithScenarios, testtools.TestCase):
    # Errors a real engine cannot be made to produce on demand, raised
    # inside the translator as the SDK would raise them.
    scenarios = [
        ('404 with a name for missing', dict(
            error=_not_found(), missing=True,
            expect=nova_exception.InstanceNotFound, words='x-uuid')),
        ('404 without one', dict(
            error=_not_found(), missing=False,
            expect=exception.EngineError, words='No such container')),
        ('409 state conflict', dict(
            error=_api_error(409, 'is not running'), missing=False,
            expect=exception.ContainerStateConflict, words='is not running')),
        ('400 refused', dict(
            error=_api_error(400, 'Minimum memory limit allowed is 6MB'),
            missing=False, expect=exception.EngineRefused,
            words='Minimum memory limit')),
        ('image deleted through another tag meanwhile', dict(
            error=_api_error(500, 'unrecognized image ID sha256:cbf3'),
            missing=True, expect=nova_exception.InstanceNotFound,
            words='x-uuid')),
        ('500 engine failure', dict(
            error=_api_error(500, 'driver failed'), missing=False,
            expect=exception.EngineError, words='driver failed')),
        ('load error in the stream', dict(
            error=docker_errors.ImageLoadError('unexpected EOF'),
            missing=False, expect=exception.EngineRefused,
            words='unexpected EOF')),
        ('connection refused', dict(
            error=requests.exceptions.ConnectionError('refused'),
            missing=False, expect=exception.EngineUnavailable,
            words='unix:///run/test.sock')),
        ('timeout', dict(
            error=requests.exceptions.ReadTimeout('slow'), missing=False,
            expect=exception.EngineUnavailable, words='ReadTimeout')),
        ('version negotiation', dict(
            error=docker_errors.DockerException('Error while fetching '
                                                'server API version'),
            missing=False, expect=exception.EngineUnavailable,
            words='Start its engine (dockerd, or podman system service)')),
    ]

    def test_translation(self):
        adapter = engine.Engine('unix:///run/test.sock')
        missing = (functools.partial(nova_exception.InstanceNotFound,
                                     instance_id='x-uuid')
                   if self.missing else None)

        def fail():
            with adapter._translated('do it', missing):
                raise self.error
        e = self.assertRaises(self.expect, fail)
        self.assertIn(self.words, e.format_message())


class EngineNameTest(testscenarios.WithScenarios, testtools.TestCase):
    """Faults name the engine as what it said it is (GET /version), also
    while it is away; one that never answered, neutrally."""
    url = 'unix:///run/test.sock'
    scenarios = [
        ('docker', dict(
            version=test_dialect.DOCKER_VERSION, name='Docker engine',
            start='Start dockerd on this host')),
        ('podman', dict(
            version=test_dialect.PODMAN_VERSION, name='Podman engine',
            start='Start podman system service on this host')),
        ('never answered', dict(
            version=None, name='container engine',
            start='Start its engine (dockerd, or podman system service) '
                  'on this host')),
    ]

    def test_faults_name_the_engine(self):
        client = mock.Mock()
        if self.version is None:
            client.version.side_effect = requests.exceptions.ConnectionError()
        else:
            client.version.return_value = self.version
        client.info.side_effect = requests.exceptions.ConnectionError()
        connection = engine.Engine(self.url)
        with mock.patch.object(engine_connection.docker, 'DockerClient',
                               return_value=client):
            e = self.assertRaises(exception.EngineUnavailable,
                                  connection.info)
        self.assertEqual(self.name, connection.engine_name)
        self.assertEqual(
            'The %s at %s is not answering (ConnectionError). %s or fix '
            '[docker] api_url in nova.conf.' % (self.name, self.url,
                                                self.start),
            e.format_message())
        client.info.side_effect = _api_error(500, 'broken')
        with mock.patch.object(connection, '_client', client):
            e = self.assertRaises(exception.EngineError, connection.info)
        self.assertTrue(e.format_message().startswith(
            'The %s failed to ' % self.name), e.format_message())


class ParseReferenceTest(testscenarios.WithScenarios, testtools.TestCase):
    """References as the engine reads them: the registry is what the
    allowed_registries check compares, the repository what the driver
    keeps for itself."""
    scenarios = [
        ('hub, tag', dict(ref='busybox:1.36',
                          expect=('docker.io', 'busybox'))),
        ('hub user repo', dict(ref='nova-glance/abc:1',
                               expect=('docker.io', 'nova-glance/abc'))),
        ('explicit hub', dict(ref='docker.io/nova-docker/infra:1',
                              expect=('docker.io', 'nova-docker/infra'))),
        ('registry port, no tag', dict(
            ref='127.0.0.1:5000/app', expect=('127.0.0.1:5000', 'app'))),
        ('registry port and tag', dict(
            ref='127.0.0.1:5000/team/app:2',
            expect=('127.0.0.1:5000', 'team/app'))),
        ('digest', dict(
            ref='reg.example/app@sha256:' + 'a' * 64,
            expect=('reg.example', 'app'))),
        ('localhost', dict(ref='localhost/app:1',
                           expect=('localhost', 'app'))),
    ]

    def test_parse(self):
        self.assertEqual(self.expect,
                         engine.Engine.parse_reference(self.ref))


class BadReferenceTest(testtools.TestCase):
    def test_scheme_is_refused(self):
        e = self.assertRaises(exception.BadReference,
                              engine.Engine.parse_reference,
                              'https://reg.example/app:1')
        self.assertIn('https://reg.example/app:1', e.format_message())


class ParseTimeTest(testscenarios.WithScenarios, testtools.TestCase):
    utc = datetime.timezone.utc
    scenarios = [
        ('nanoseconds', dict(
            stamp='2026-11-25T18:54:07.123456789Z',
            expect=datetime.datetime(2026, 11, 25, 18, 54, 7, 123456,
                                     tzinfo=datetime.timezone.utc))),
        ('short fraction', dict(
            stamp='2026-11-25T18:54:07.1Z',
            expect=datetime.datetime(2026, 11, 25, 18, 54, 7, 100000,
                                     tzinfo=datetime.timezone.utc))),
        ('whole seconds', dict(
            stamp='2026-11-25T18:54:07Z',
            expect=datetime.datetime(2026, 11, 25, 18, 54, 7,
                                     tzinfo=datetime.timezone.utc))),
        ('never tagged', dict(stamp='0001-01-01T00:00:00Z', expect=None)),
        ('missing', dict(stamp=None, expect=None)),
    ]

    def test_parse(self):
        self.assertEqual(self.expect, engine_images._parse_time(self.stamp))


class PidInContainerTest(testtools.TestCase):
    """A console process is hung up by its pid in its container, found
    from the host pid the engine gives, only if /proc shows it there."""

    def test_process_of_that_cgroup(self):
        with open('/proc/self/cgroup') as f:
            cgroup_path = f.read().split(':')[-1].strip()
        self.assertEqual(os.getpid(), engine_guest._pid_in_container(
            os.getpid(), cgroup_path))

    def test_process_of_another_container_or_host(self):
        self.assertIsNone(engine_guest._pid_in_container(
            os.getpid(), 'f' * 64))
        self.assertIsNone(engine_guest._pid_in_container(2 ** 22 + 1, ''))
