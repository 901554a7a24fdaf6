"""The all-in-one's processes: pid files, one-process daemons, and the
listeners that start a service with its first client."""

import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from unittest import mock

from nova_docker.aio import cloud
from nova_docker.aio import configs
from nova_docker.aio import layout as layout_mod
from nova_docker.aio import services


class TestServices(unittest.TestCase):

    def setUp(self):
        self.layout = layout_mod.Layout(tempfile.mkdtemp())
        self.layout.ensure_dirs()

    def test_start_is_idempotent_and_stop_stops_it(self):
        argv = [sys.executable, '-c', 'import time; time.sleep(60)']
        pid = services.start(self.layout, 'sleeper', argv)
        self.assertEqual(pid, services.start(self.layout, 'sleeper', argv))
        self.assertEqual(pid, services.read_pid(
            self.layout.pidfile('sleeper')))
        self.assertEqual({'sleeper': pid},
                         services.stop(self.layout, ['sleeper']))
        self.assertIsNone(services.read_pid(self.layout.pidfile('sleeper')))

    def test_a_dead_process_is_not_running(self):
        pid = services.start(self.layout, 'quick',
                             [sys.executable, '-c', 'pass'])
        deadline = time.monotonic() + 10
        # Not reaped yet (a zombie) still counts as gone.
        while services.read_pid(self.layout.pidfile('quick')):
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.05)
        self.assertEqual({}, services.stop(self.layout, ['quick']))
        os.waitpid(pid, 0)

    def test_a_reused_pid_is_never_signalled(self):
        with open(self.layout.pidfile('other'), 'w') as f:
            f.write('%d 1\n' % os.getpid())  # our pid, wrong start time
        self.assertIsNone(services.read_pid(self.layout.pidfile('other')))
        self.assertEqual({}, services.stop(self.layout, ['other']))


# A one-worker daemon as single_process runs it: oslo.service's threading
# backend, the service started through launch().
_ONE_WORKER_DAEMON = '''
import functools, os, sys, threading
import oslo_service.backend as backend
backend.init_backend(backend.BackendType.THREADING)
from oslo_config import cfg
from oslo_service import service
from nova_docker.aio import single_process

class Daemon(service.Service):
    def __init__(self):
        super().__init__()
        self.stopped = threading.Event()

    def start(self):
        super().start()
        # Its work in a daemon thread, as oslo.messaging's RPC servers.
        threading.Thread(target=self.answer, daemon=True).start()
        print(os.getpid(), flush=True)

    def answer(self):
        for line in sys.stdin:
            print('answer to ' + line.strip(), flush=True)

    def stop(self, graceful=False):
        print('stopped', flush=True)
        self.stopped.set()
        super().stop(graceful)

    def wait(self):
        if sys.argv[1] != 'launch, wait returns at once':
            self.stopped.wait()

if sys.argv[1].startswith('launch'):    # as Nova and Heat start theirs
    launch = functools.partial(single_process.in_process, service.launch)
    # as nova.service.serve() calls it
    launch(cfg.CONF, Daemon(), workers=1, restart_method='mutate',
           no_fork=False).wait()
else:                           # as neutron-rpc-server starts its worker
    launcher = single_process.one_process_launcher(service.ProcessLauncher)(
        cfg.CONF, restart_method='mutate')
    launcher.launch_service(Daemon(), 1)
    launcher.wait()
'''


class TestSingleProcess(unittest.TestCase):

    def test_one_worker_runs_in_the_daemon_process_and_stops_on_term(self):
        # Heat's engine service: wait() returns at once, its work is in
        # threads.
        for how in ('launch', 'launch, wait returns at once', 'launcher'):
            with self.subTest(how=how):
                self._runs_in_one_process(how)

    def _runs_in_one_process(self, how):
        proc = subprocess.Popen(
            [sys.executable, '-c', _ONE_WORKER_DAEMON, how],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.addCleanup(proc.kill)
        # A daemon that neither answers nor exits fails the test, in time.
        deadline = threading.Timer(60, proc.kill)
        deadline.start()
        self.addCleanup(deadline.cancel)
        worker_pid = int(proc.stdout.readline())
        # No master forking the worker: the service runs where it started,
        # serves, and a SIGTERM (what ``down`` sends) stops it gracefully.
        self.assertEqual(proc.pid, worker_pid)
        proc.stdin.write('a request\n')
        proc.stdin.flush()
        self.assertEqual('answer to a request\n', proc.stdout.readline())
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
        self.assertEqual('stopped\n', out)
        self.assertEqual(0, proc.returncode)

    def test_oslo_daemons_start_through_it(self):
        layout = layout_mod.Layout(tempfile.mkdtemp())
        for name in ('nova-conductor', 'neutron-rpc-server', 'heat-engine'):
            self.assertEqual(
                [layout.bin('python'), '-m', 'nova_docker.aio.single_process',
                 name], cloud.daemon_command(layout, name))
        self.assertEqual([layout.bin('nova-compute')],
                         cloud.daemon_command(layout, 'nova-compute'))

    def test_nova_scheduler_is_seen_in_nova_conductors_process(self):
        layout = layout_mod.Layout(tempfile.mkdtemp())
        layout.ensure_dirs()
        pid = services.start(layout, 'nova-conductor', ['sleep', '60'])
        self.addCleanup(services.stop, layout, ['nova-conductor'])
        self.assertEqual(pid, cloud.start_nova_daemon(layout,
                                                      'nova-scheduler'))
        self.assertEqual(pid, services.read_pid(
            layout.pidfile('nova-scheduler')))
        self.assertEqual(layout.log('nova-conductor'),
                         cloud.log_of(layout, 'nova-scheduler'))
        self.assertEqual({'nova-conductor': pid, 'nova-scheduler': pid},
                         services.stop(layout, ['nova-conductor',
                                                'nova-scheduler']))
        self.assertIsNone(services.read_pid(layout.pidfile('nova-scheduler')))


class TestOnDemand(unittest.TestCase):

    def test_nova_serialproxy_starts_when_its_first_client_connects(self):
        with socket.socket() as probe:
            probe.bind(('127.0.0.1', 0))
            port = probe.getsockname()[1]
        layout = layout_mod.Layout(
            tempfile.mkdtemp(),
            port_offset=port - layout_mod.BASE_PORTS['serialproxy'])
        layout.ensure_dirs()
        nova_conf = configs.conf(layout, 'nova', 'nova.conf')
        os.makedirs(os.path.dirname(nova_conf))
        with open(nova_conf, 'w') as f:
            f.write('[DEFAULT]\n')
        # As ``up`` starts it, this interpreter for the venv's.
        with mock.patch.object(layout_mod.Layout, 'bin',
                               lambda self, name: sys.executable):
            pid = cloud.start_serial_proxy(layout)
        self.addCleanup(services.stop, layout, [cloud.SERIAL_PROXY])
        deadline = time.monotonic() + 60
        while not cloud.on_demand_listens(layout, cloud.SERIAL_PROXY):
            self.assertLess(time.monotonic(), deadline)
            self.assertEqual(pid, services.read_pid(
                layout.pidfile(cloud.SERIAL_PROXY)))
            time.sleep(0.05)
        # Listening, without Nova imported: a few MiB.
        self.assertLess(0, services.group_rss_kib(pid))
        self.assertLess(services.group_rss_kib(pid), 40 * 1024)
        self.assertTrue(cloud.waits_for_first_client(layout,
                                                     cloud.SERIAL_PROXY))
        with socket.create_connection(('127.0.0.1', port), 60) as client:
            client.sendall(b'GET / HTTP/1.1\r\nHost: aio\r\n\r\n')
            answer = client.recv(200)
        # websockify's answer to a request that is no websocket: the first
        # client was served by nova-serialproxy, in the same process.
        self.assertIn(b'405 Method Not Allowed', answer)
        self.assertIn(b'WebSockify', answer)
        self.assertEqual(pid, services.read_pid(
            layout.pidfile(cloud.SERIAL_PROXY)))
        self.assertFalse(cloud.waits_for_first_client(layout,
                                                      cloud.SERIAL_PROXY))

    def test_up_and_status_see_the_port_listen_without_connecting(self):
        with socket.create_server(('127.0.0.1', 0)) as server:
            port = server.getsockname()[1]
            self.assertTrue(layout_mod.port_listens(port))
            server.setblocking(False)
            # Nobody connected: nothing was started.
            self.assertRaises(BlockingIOError, server.accept)
        self.assertFalse(layout_mod.port_listens(port))
