"""DockerDriver against the real engine: what each Nova operation leaves
on the engine, checked the way an operator would (docker inspect, docker
exec, docker logs)."""

import os
import time

from nova.compute import power_state
from nova import conf as nova_conf
from nova import exception as nova_exception
from oslo_utils import units

from nova_docker import engine
from nova_docker import host
from nova_docker import naming
from nova_docker import spec
from tests.functional import base
from tests import support

CONF = nova_conf.CONF


class SpawnTest(base.DriverTestCase):

    def test_spawn_runs_a_limited_isolated_container(self):
        image = self.create_image()
        instance = self.make_instance(memory_mb=64, vcpus=1)
        self.spawn(instance, image)

        container = self.inspect(instance)
        self.assertEqual('running', container['State']['Status'])
        self.assertEqual('nova-' + instance.uuid, container['Name'][1:])
        self.assertEqual(power_state.RUNNING, self.state(instance))

        host_config = container['HostConfig']
        self.assertEqual(64 * units.Mi, host_config['Memory'])
        self.assertEqual(64 * units.Mi, host_config['MemorySwap'])
        self.assertEqual(100000, host_config['CpuPeriod'])
        self.assertEqual(1 * host_config['CpuPeriod'],
                         host_config['CpuQuota'])
        self.assertEqual(1024, host_config['CpuShares'])
        self.assertEqual(4096, host_config['PidsLimit'])
        # Secure defaults.
        self.assertFalse(host_config['Privileged'])
        # no-new-privileges and seccomp in force on the workload's process
        # (the engines word the record's SecurityOpt differently).
        status = process_status(container['State']['Pid'])
        self.assertEqual('1', status['NoNewPrivs'])
        self.assertEqual('2', status['Seccomp'])
        self.assertFalse(any('unconfined' in opt
                             for opt in host_config['SecurityOpt']))
        # No ports: no network at all (never the host's, never docker0).
        self.assertEqual('none', host_config['NetworkMode'])
        # An IPC namespace of its own (Podman's record says 'shareable'
        # where Docker's says 'private').
        self.assertNotEqual(os.readlink('/proc/self/ns/ipc'), os.readlink(
            '/proc/%d/ns/ipc' % container['State']['Pid']))
        self.assertIn(host_config['PidMode'], ('', 'private'))
        self.assertTrue(host_config['Init'])
        self.assertFalse(host_config.get('Binds'))
        self.assertFalse(host_config.get('Mounts'))
        self.assertEqual([], container['Mounts'])
        # Least capabilities: everything dropped, a few added back (the
        # process's bounding set: Podman's record lists what it dropped of
        # its defaults rather than ALL).
        self.assertEqual(capability_mask(spec.CAPABILITIES),
                         int(status['CapBnd'], 16))
        self.assertFalse(host_config.get('Devices'))
        self.assertEqual('json-file', host_config['LogConfig']['Type'])
        if self.dialect.name == 'podman':
            # Podman's record leaves the log options out; its monitor
            # (conmon) caps the log at '1m' as Podman reads it (10**6).
            argv = monitor_argv(container['Id'])
            self.assertEqual('1000000',
                             argv[argv.index('--log-size-max') + 1])
        else:
            self.assertEqual('1m',
                             host_config['LogConfig']['Config']['max-size'])

        labels = container['Config']['Labels']
        self.assertEqual(instance.uuid, labels[naming.INSTANCE_UUID])
        self.assertEqual(instance.name, labels[naming.INSTANCE_NAME])
        self.assertEqual(self.host, labels[naming.COMPUTE_HOST])
        self.assertEqual(image.id, labels[naming.IMAGE_ID])
        self.assertEqual(instance.hostname, container['Config']['Hostname'])
        self.assertIn(
            'nova-docker says hello from %s' % instance.hostname,
            self.wait_for_logs(instance, 'hello').decode())

    def test_limits_and_confinement_hold_inside_the_container(self):
        self.flags(pids_limit=77, group='docker')
        instance = self.spawn(self.make_instance(memory_mb=48, vcpus=1))

        self.assertEqual(str(48 * units.Mi), self.exec_in(
            instance, 'cat',
            '/sys/fs/cgroup/memory/memory.limit_in_bytes').strip())
        self.assertEqual('100000', self.exec_in(
            instance, 'cat', '/sys/fs/cgroup/cpu/cpu.cfs_quota_us').strip())
        self.assertEqual('77', self.exec_in(
            instance, 'cat', '/sys/fs/cgroup/pids/pids.max').strip())
        status = self.exec_in(instance, 'cat', '/proc/1/status')
        self.assertIn('Seccomp:\t2', status)
        self.assertIn('NoNewPrivs:\t1', status)
        # No network but loopback.
        links = self.exec_in(instance, 'ls', '/sys/class/net').split()
        self.assertEqual(['lo'], links)

    def test_overcommitted_vcpus_still_spawn(self):
        # 4 vCPUs on a host with fewer cores: the engine refuses NanoCpus
        # above its core count; a CFS quota is valid.
        instance = self.spawn(self.make_instance(vcpus=4))
        host_config = self.inspect(instance)['HostConfig']
        self.assertEqual('running', self.status(instance))
        self.assertEqual(400000, host_config['CpuQuota'])
        self.assertEqual(100000, host_config['CpuPeriod'])
        self.assertEqual(4096, host_config['CpuShares'])
        # The quota holds in the container's cgroup (Podman's record also
        # states it as NanoCpus, Docker's does not).
        self.assertEqual('400000', self.exec_in(
            instance, 'cat', '/sys/fs/cgroup/cpu/cpu.cfs_quota_us').strip())

    def test_smallest_flavor_the_engine_accepts(self):
        instance = self.spawn(self.make_instance(memory_mb=6))
        self.assertEqual('running', self.status(instance))
        self.assertEqual(6 * units.Mi,
                         self.inspect(instance)['HostConfig']['Memory'])

    def test_no_pids_limit(self):
        self.flags(pids_limit=-1, group='docker')
        instance = self.spawn()
        # What the workload sees (the record says 0 on Docker, -1 on
        # Podman, which is given -1: without a limit it applies its own).
        self.assertEqual('max', self.exec_in(
            instance, 'cat', '/sys/fs/cgroup/pids/pids.max').strip())

    def test_memory_limit_holds_and_oom_is_a_crash(self):
        # The workload doubles a string until it passes the flavor's RAM.
        image = self.create_image(
            os_command_line='sh -c \'echo growing; sleep 1; x=a; '
                            'while true; do x=$x$x; done\'')
        instance = self.spawn(self.make_instance(memory_mb=16), image)
        support.wait_for(lambda: not self.inspect(instance)['State'][
            'Running'], base.WAIT_SECONDS, 'the workload killed')
        state = self.inspect(instance)['State']
        self.assertEqual(137, state['ExitCode'])   # SIGKILL
        # On Podman 4.3 only with its conmon started in the bundle
        # directory (tools/podman-engine.sh; README: Podman).
        self.assertTrue(state['OOMKilled'])
        self.assertEqual(power_state.CRASHED, self.state(instance))

    def test_power_on_false_creates_without_starting(self):
        instance = self.spawn(power_on=False)
        container = self.inspect(instance)
        self.assertEqual('created', container['State']['Status'])
        self.assertEqual(power_state.SHUTDOWN, self.state(instance))
        self.assertEqual([instance.uuid], self.driver.list_instance_uuids())

        self.driver.power_on(self.context, instance, [])
        self.assertEqual('running', self.status(instance))

    def test_os_command_line_overrides_the_image_command(self):
        image = self.create_image(
            os_command_line='sh -c "echo custom workload on $(hostname); '
                            'exec sleep 1000000"')
        instance = self.spawn(image_meta=image)
        self.assertEqual(
            ['sh', '-c', 'echo custom workload on $(hostname); '
                         'exec sleep 1000000'],
            self.inspect(instance)['Config']['Cmd'])
        self.wait_for_logs(instance, 'custom workload')
        output = self.driver.get_console_output(self.context, instance)
        self.assertIn(b'custom workload on ' + instance.hostname.encode(),
                      output)
        self.assertNotIn(b'nova-docker says hello', output)

    def test_cpu_extra_specs(self):
        instance = self.spawn(self.make_instance(vcpus=2, extra_specs={
            'quota:cpu_shares': '300', 'quota:cpu_period': '50000',
            'quota:cpu_quota': '20000'}))
        host_config = self.inspect(instance)['HostConfig']
        self.assertEqual(300, host_config['CpuShares'])
        self.assertEqual(50000, host_config['CpuPeriod'])
        # quota:cpu_quota is per vCPU, as with libvirt.
        self.assertEqual(40000, host_config['CpuQuota'])
        self.assertEqual('40000', self.exec_in(
            instance, 'cat', '/sys/fs/cgroup/cpu/cpu.cfs_quota_us').strip())

    def test_negative_cpu_quota_means_no_quota(self):
        instance = self.spawn(self.make_instance(
            vcpus=2, extra_specs={'quota:cpu_quota': '-1'}))
        host_config = self.inspect(instance)['HostConfig']
        self.assertEqual(0, host_config['CpuQuota'])
        self.assertEqual(2048, host_config['CpuShares'])

    def test_disk_io_extra_specs(self):
        instance = self.spawn(self.make_instance(extra_specs={
            'quota:disk_read_bytes_sec': str(10 * units.Mi),
            'quota:disk_write_iops_sec': '300',
            'quota:disk_total_bytes_sec': str(20 * units.Mi)}))
        host_config = self.inspect(instance)['HostConfig']
        device = host.facts(self.docker.info()).io_device
        if device:
            self.assertEqual([{'Path': device, 'Rate': 10 * units.Mi}],
                             host_config['BlkioDeviceReadBps'])
            self.assertEqual([{'Path': device, 'Rate': 300}],
                             host_config['BlkioDeviceWriteIOps'])
        else:
            self.assertFalse(host_config['BlkioDeviceReadBps'])
            self.assertIn('cannot enforce quota:disk_read_bytes_sec',
                          self.logger.output)
        # The engine has no total (read + write) limit: said in the log.
        self.assertIn('cannot enforce quota:disk_total_bytes_sec',
                      self.logger.output)

    def test_root_disk_size(self):
        instance = self.spawn(self.make_instance(root_gb=1))
        host_config = self.inspect(instance)['HostConfig']
        if host.facts(self.docker.info()).root_disk_quota:
            self.assertEqual({'size': '1G'}, host_config['StorageOpt'])
        else:
            self.assertFalse(host_config.get('StorageOpt'))
            self.assertIn('cannot enforce root disk size',
                          self.logger.output)
        self.assertEqual('running', self.status(instance))

    def test_unenforced_limits_are_reported_once(self):
        specs = {'quota:disk_total_iops_sec': '100'}
        self.spawn(self.make_instance(extra_specs=specs))
        self.spawn(self.make_instance(extra_specs=specs))
        self.assertEqual(1, self.logger.output.count(
            'cannot enforce quota:disk_total_iops_sec'))


class LifecycleTest(base.DriverTestCase):

    def setUp(self):
        super().setUp()
        self.instance = self.spawn()

    def started_at(self):
        """When the workload last started, comparable: the engine writes
        RFC 3339 with trailing zeros of the nanoseconds cut."""
        return support.started_at(self.inspect(self.instance))

    def test_graceful_power_off_is_fast_and_clean(self):
        before = time.monotonic()
        self.driver.power_off(self.instance, timeout=60)
        elapsed = time.monotonic() - before
        state = self.inspect(self.instance)['State']
        self.assertEqual('exited', state['Status'])
        # The init passed SIGTERM on: the workload ended on it (128 + 15)
        # instead of being killed when the timeout ran out.
        self.assertEqual(143, state['ExitCode'])
        self.assertLess(elapsed, 30)
        self.assertEqual(power_state.SHUTDOWN, self.state(self.instance))

    def test_power_off_without_timeout_kills(self):
        self.driver.power_off(self.instance, timeout=0)
        state = self.inspect(self.instance)['State']
        self.assertEqual('exited', state['Status'])
        self.assertEqual(137, state['ExitCode'])  # 128 + SIGKILL
        self.assertEqual(power_state.SHUTDOWN, self.state(self.instance))

    def test_power_off_twice_and_power_on(self):
        self.driver.power_off(self.instance, timeout=0)
        self.driver.power_off(self.instance, timeout=0)
        self.driver.power_off(self.instance, timeout=10)
        self.assertEqual('exited', self.status(self.instance))

        self.driver.power_on(self.context, self.instance, [])
        self.assertEqual('running', self.status(self.instance))
        self.assertEqual(power_state.RUNNING, self.state(self.instance))
        # Same container, same limits.
        self.assertEqual(64 * units.Mi,
                         self.inspect(self.instance)['HostConfig']['Memory'])

    def test_soft_reboot_restarts_the_workload(self):
        started = self.started_at()
        self.driver.reboot(self.context, self.instance, [], 'SOFT')
        record = self.inspect(self.instance)
        self.assertEqual('running', record['State']['Status'])
        self.assertGreater(support.started_at(record), started)
        self.assertEqual(power_state.RUNNING, self.state(self.instance))

    def test_hard_reboot_restarts_the_workload(self):
        started = self.started_at()
        self.driver.reboot(self.context, self.instance, [], 'HARD')
        record = self.inspect(self.instance)
        self.assertEqual('running', record['State']['Status'])
        self.assertGreater(support.started_at(record), started)

    def test_hard_reboot_from_paused_and_from_stopped(self):
        self.driver.pause(self.instance)
        started = self.started_at()
        self.driver.reboot(self.context, self.instance, [], 'HARD')
        self.assertEqual('running', self.status(self.instance))
        self.assertGreater(self.started_at(), started)

        self.driver.power_off(self.instance, timeout=0)
        started = self.started_at()
        self.driver.reboot(self.context, self.instance, [], 'HARD')
        self.assertEqual('running', self.status(self.instance))
        self.assertGreater(self.started_at(), started)

    def test_pause_and_unpause(self):
        self.driver.pause(self.instance)
        self.assertEqual('paused', self.status(self.instance))
        self.assertEqual(power_state.PAUSED, self.state(self.instance))

        self.driver.unpause(self.instance)
        self.assertEqual('running', self.status(self.instance))
        self.assertEqual(power_state.RUNNING, self.state(self.instance))

    def test_resume_state_on_host_boot_starts_a_stopped_container(self):
        self.docker.api.kill(naming.container_name(self.instance.uuid))
        self.driver.resume_state_on_host_boot(self.context, self.instance,
                                              [], None)
        self.assertEqual('running', self.status(self.instance))
        # And leaves a running one alone.
        started = self.started_at()
        self.driver.resume_state_on_host_boot(self.context, self.instance,
                                              [], None)
        self.assertEqual(started, self.started_at())

    def test_destroy_removes_the_container_and_is_idempotent(self):
        self.assertTrue(self.driver.instance_exists(self.instance))
        self.driver.destroy(self.context, self.instance, [])
        self.assertEqual([], self.containers_of(self.instance))
        self.assertFalse(self.driver.instance_exists(self.instance))
        self.driver.destroy(self.context, self.instance, [])
        self.assertEqual([], self.driver.list_instance_uuids())

    def test_destroy_of_a_paused_or_stopped_container(self):
        self.driver.pause(self.instance)
        self.driver.destroy(self.context, self.instance, [])
        self.assertEqual([], self.containers_of(self.instance))

        stopped = self.spawn()
        self.driver.power_off(stopped, timeout=0)
        self.driver.destroy(self.context, stopped, [])
        self.assertEqual([], self.containers_of(stopped))

    def test_destroy_of_a_never_created_instance(self):
        never = self.make_instance()
        self.driver.destroy(self.context, never, [])
        self.driver.cleanup(self.context, never, [])
        self.assertEqual([], self.containers_of(never))
        self.assertEqual([self.instance.uuid],
                         self.driver.list_instance_uuids())

    def test_operations_on_a_missing_container_raise_instance_not_found(self):
        never = self.make_instance()
        for call in (lambda: self.driver.power_on(self.context, never, []),
                     lambda: self.driver.power_off(never, timeout=0),
                     lambda: self.driver.pause(never),
                     lambda: self.driver.get_info(never, use_cache=False),
                     lambda: self.driver.get_console_output(self.context,
                                                            never)):
            self.assertRaises(nova_exception.InstanceNotFound, call)


class ConsoleOutputTest(base.DriverTestCase):

    def test_console_output_is_the_workload_output(self):
        instance = self.spawn()
        self.wait_for_logs(instance, 'hello')
        self.assertEqual(
            b'nova-docker says hello from %s\n' % instance.hostname.encode(),
            self.driver.get_console_output(self.context, instance))

    def test_console_output_keeps_the_last_100_kib(self):
        # About 150 KiB of numbered lines, then a last line.
        image = self.create_image(
            os_command_line='sh -c \'i=0; while [ $i -lt 3000 ]; do '
                            'echo "line $i %s"; i=$((i+1)); done; '
                            'echo THE-END; exec sleep 1000000\'' % ('.' * 40))
        instance = self.spawn(image_meta=image)
        self.wait_for_logs(instance, 'THE-END')
        output = self.driver.get_console_output(self.context, instance)
        self.assertLessEqual(len(output), 100 * units.Ki)
        self.assertGreater(len(output), 90 * units.Ki)
        self.assertTrue(output.endswith(b'THE-END\n'))
        self.assertNotIn(b'line 0 ', output)

    def test_console_output_of_a_stopped_container(self):
        instance = self.spawn()
        self.wait_for_logs(instance, 'hello')
        self.driver.power_off(instance, timeout=0)
        self.assertIn(b'hello',
                      self.driver.get_console_output(self.context, instance))


class ListingAndStateTest(base.DriverTestCase):

    def test_lists_only_this_hosts_containers(self):
        mine = self.spawn()
        other_host = self.other_host_cleanup()
        other_driver = self.make_driver(other_host)
        theirs = self.spawn(driver=other_driver)

        self.assertEqual([mine.uuid], self.driver.list_instance_uuids())
        self.assertEqual([mine.name], self.driver.list_instances())
        self.assertEqual(1, self.driver.get_num_instances())
        self.assertEqual([theirs.uuid], other_driver.list_instance_uuids())
        self.assertEqual(other_host, self.inspect(theirs)['Config'][
            'Labels'][naming.COMPUTE_HOST])

    def test_power_state_sync_costs_one_listing(self):
        counted = engine.Engine.from_conf(CONF)
        self.driver = self.make_driver(self.host, engine=counted)
        instances = [self.spawn() for _ in range(3)]
        self.driver.pause(instances[1])
        self.driver.power_off(instances[2], timeout=0)

        api = counted.client.api
        calls = []
        for name in ('containers', 'inspect_container'):
            self.patch(api, name, self.counted(calls, name,
                                               getattr(api, name)))

        # What Nova's _sync_power_states does: count, then get_info each.
        self.assertEqual(3, self.driver.get_num_instances())
        states = [self.driver.get_info(i).state for i in instances]

        self.assertEqual([power_state.RUNNING, power_state.PAUSED,
                          power_state.SHUTDOWN], states)
        self.assertEqual(['containers'], calls)

    @staticmethod
    def counted(calls, name, real):
        def wrapper(*args, **kwargs):
            calls.append(name)
            return real(*args, **kwargs)
        return wrapper

    def test_get_info_with_a_cold_cache(self):
        # No listing taken yet: get_info must make one. (Nova's sync asks
        # for each instance under that instance's lock; one whose lock was
        # held past state_cache_seconds finds the listing expired.)
        instance = self.spawn()
        call = base.start_thread(self.driver.get_info, instance)
        self.assertIsNone(
            call.outcome(3),
            'get_info(use_cache=True) did not return with no cached listing')

    def test_get_info_with_an_expired_cache(self):
        self.flags(state_cache_seconds=0, group='docker')
        instance = self.spawn()
        self.driver.get_num_instances()
        call = base.start_thread(self.driver.get_info, instance)
        self.assertIsNone(
            call.outcome(3),
            'get_info(use_cache=True) did not return once the cached listing '
            'had expired')

    def test_container_killed_behind_the_drivers_back(self):
        instance = self.spawn()
        self.assertEqual(power_state.RUNNING, self.state(instance))
        self.docker.api.kill(naming.container_name(instance.uuid))
        self.assertEqual(power_state.SHUTDOWN,
                         self.driver.get_info(instance,
                                              use_cache=False).state)

    def test_container_removed_behind_the_drivers_back(self):
        instance = self.spawn()
        self.docker.api.remove_container(
            naming.container_name(instance.uuid), force=True)
        self.assertRaises(nova_exception.InstanceNotFound,
                          self.driver.get_info, instance, use_cache=False)
        self.assertFalse(self.driver.instance_exists(instance))
        self.assertEqual([], self.driver.list_instance_uuids())


def process_status(pid):
    """{field: value} of /proc/<pid>/status, a host process's (a
    container's workload as the host's kernel sees it)."""
    with open('/proc/%d/status' % pid) as f:
        return dict(line.rstrip('\n').split(':\t', 1) for line in f
                    if ':\t' in line)


# Linux capability numbers (linux/capability.h) of spec.CAPABILITIES.
CAPABILITY_NUMBERS = {'CHOWN': 0, 'DAC_OVERRIDE': 1, 'FOWNER': 3,
                      'FSETID': 4, 'KILL': 5, 'SETGID': 6, 'SETUID': 7,
                      'NET_BIND_SERVICE': 10, 'SYS_CHROOT': 18}


def capability_mask(names):
    """The kernel's bit mask of these capabilities."""
    return sum(1 << CAPABILITY_NUMBERS[name] for name in names)


def monitor_argv(container_id):
    """The command line of a Podman container's monitor (conmon)."""
    for pid in filter(str.isdigit, os.listdir('/proc')):
        try:
            with open('/proc/%s/cmdline' % pid) as f:
                argv = f.read().split('\0')
        except OSError:
            continue
        if (argv[0].endswith('conmon') and '-c' in argv and
                argv[argv.index('-c') + 1] == container_id):
            return argv
    raise AssertionError('no conmon for container %s' % container_id)
