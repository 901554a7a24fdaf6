"""Runs phases of devstack/plugin.sh in bash, the way devstack does
(settings sourced, then `source plugin.sh MODE PHASE`), against the
stand-ins of stubs.sh, in a directory of its own."""

import configparser
import json
import os
import shlex
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

# What devstack's lib/nova has written to nova.conf before post-config
# (create_nova_conf): its own filter list, without ImagePropertiesFilter
# here so that the plugin's addition shows. Every name must exist in Nova
# 34 (AvailabilityZoneFilter does not any more: the mixed-cloud API test
# starts a real scheduler with this list).
DEVSTACK_FILTERS = 'ComputeFilter,ComputeCapabilitiesFilter,' \
    'ServerGroupAntiAffinityFilter,ServerGroupAffinityFilter,' \
    'SameHostFilter,DifferentHostFilter'


class PhaseFailed(AssertionError):
    pass


class Devstack:
    """One devstack host: its config files, engine and Glance fakes."""

    def __init__(self, workdir, virt_driver='docker',
                 services='n-api,n-cond,n-sch,n-cpu,g-api,placement-api,'
                          'tempest', hostname='devstack-host', env=None):
        self.workdir = workdir
        self.etc = os.path.join(workdir, 'etc')
        os.makedirs(self.etc, exist_ok=True)
        self.nova_conf = os.path.join(self.etc, 'nova.conf')
        self.nova_cpu_conf = os.path.join(self.etc, 'nova-cpu.conf')
        self.glance_api_conf = os.path.join(self.etc, 'glance-api.conf')
        self.tempest_conf = os.path.join(self.etc, 'tempest.conf')
        self.log = os.path.join(workdir, 'calls.log')
        self.docker_state = os.path.join(workdir, 'docker.json')
        self.openstack_state = os.path.join(workdir, 'glance-images')
        self.nova_virt_dir = os.path.join(workdir, 'nova-src', 'nova', 'virt')
        os.makedirs(self.nova_virt_dir, exist_ok=True)
        busybox = os.path.join(workdir, 'busybox')
        with open(busybox, 'wb') as f:
            f.write(b'\x7fELF not really busybox')
        self.env = {
            'PATH': os.environ.get('PATH', '/usr/bin:/bin'),
            'HOME': workdir,
            'TMPDIR': workdir,
            'STUB_DIR': HERE,
            'STUB_LOG': self.log,
            'STUB_PY': sys.executable,
            'STUB_DOCKER_STATE': self.docker_state,
            'STUB_OPENSTACK_STATE': self.openstack_state,
            'STUB_HOSTNAME': hostname,
            'STUB_NOVA_VIRT_DIR': self.nova_virt_dir,
            'STUB_NOVA_SHIM_INSTALLED': '0',
            # devstack's own variables (stackrc, lib/nova, lib/glance,
            # lib/tempest)
            'DEST': os.path.join(workdir, 'opt-stack'),
            'DATA_DIR': os.path.join(workdir, 'data'),
            'STACK_USER': 'stack',
            'VIRT_DRIVER': virt_driver,
            'ENABLED_SERVICES': services,
            'NOVA_CONF': self.nova_conf,
            'NOVA_CPU_CONF': self.nova_cpu_conf,
            'GLANCE_API_CONF': self.glance_api_conf,
            'TEMPEST_CONFIG': self.tempest_conf,
            'PYTHON': 'stub_python',
            # enable_plugin clones to $DEST/nova-docker; here: this tree.
            'NOVA_DOCKER_DIR': ROOT,
            'NOVA_DOCKER_BUSYBOX': busybox,
            'NOVA_DOCKER_ENGINE_CONFIG': os.path.join(
                workdir, 'docker', 'daemon.json'),
        }
        self.env.update(env or {})
        self.set_docker_state(containers=[], images=[])
        self.write_ini(self.nova_conf, {
            'filter_scheduler': {'enabled_filters': DEVSTACK_FILTERS}})
        self.write_ini(self.nova_cpu_conf, {
            'DEFAULT': {'compute_driver': 'libvirt.LibvirtDriver'}})

    # -- running phases -----------------------------------------------------

    def run(self, mode, phase=None):
        args = mode if phase is None else '%s %s' % (mode, phase)
        script = '\n'.join([
            'set -o errexit -o nounset -o pipefail',
            'source %s' % shlex.quote(os.path.join(HERE, 'stubs.sh')),
            'source %s' % shlex.quote(os.path.join(ROOT, 'devstack',
                                                   'settings')),
            'source %s %s' % (shlex.quote(os.path.join(
                ROOT, 'devstack', 'plugin.sh')), args),
        ])
        proc = subprocess.run(['bash', '-c', script], env=self.env,
                              cwd=self.workdir, capture_output=True,
                              text=True, timeout=120)
        if proc.returncode != 0:
            raise PhaseFailed('plugin.sh %s failed (%d):\n%s' % (
                args, proc.returncode, proc.stderr[-4000:]))
        return proc

    def stack(self):
        for phase in ('pre-install', 'install', 'post-config', 'extra',
                      'test-config'):
            self.run('stack', phase)

    # -- what happened ------------------------------------------------------

    def calls(self, name=None):
        if not os.path.exists(self.log):
            return []
        with open(self.log) as f:
            calls = [shlex.split(line) for line in f if line.strip()]
        return [c for c in calls if name is None or c[0] == name]

    def clear_calls(self):
        if os.path.exists(self.log):
            os.remove(self.log)

    @staticmethod
    def read_ini(path):
        parser = configparser.ConfigParser(interpolation=None, strict=False)
        parser.optionxform = str
        parser.read(path)
        return parser

    @staticmethod
    def write_ini(path, sections):
        parser = configparser.ConfigParser(interpolation=None)
        parser.optionxform = str
        for section, values in sections.items():
            if section != 'DEFAULT':
                parser.add_section(section)
            for key, value in values.items():
                parser.set(section, key, value)
        with open(path, 'w') as f:
            parser.write(f)

    def docker_state_now(self):
        with open(self.docker_state) as f:
            return json.load(f)

    def set_docker_state(self, **state):
        with open(self.docker_state, 'w') as f:
            json.dump(state, f)

    def glance_images(self):
        if not os.path.exists(self.openstack_state):
            return []
        with open(self.openstack_state) as f:
            return f.read().split()


def scheduler_config(workdir):
    """The [filter_scheduler] and [scheduler] options the plugin writes to
    a controller's nova.conf, as {(group, option): value}."""
    host = Devstack(workdir, virt_driver='libvirt',
                    services='n-api,n-cond,n-sch,g-api')
    host.run('stack', 'post-config')
    conf = host.read_ini(host.nova_conf)
    return {(group, option): conf.get(group, option)
            for group in ('filter_scheduler', 'scheduler')
            if conf.has_section(group)
            for option in conf.options(group)}
