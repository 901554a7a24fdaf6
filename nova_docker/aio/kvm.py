"""The KVM compute host of the all-in-one (``up --kvm``): libvirtd and
virtlogd, and a second nova-compute running Nova's own libvirt driver
under its own host name, beside the Docker host.

Nothing here uses systemd: the daemons run in the foreground under ``up``'s
pid files and ``down`` stops them like every other service. Guests are
left running when libvirtd stops, as containers are when the engine's
nova-compute stops.
"""

import glob
import os
import subprocess
import time

from nova_docker.aio import bootstrap
from nova_docker.aio import computehost
from nova_docker.aio import configs
from nova_docker.aio.progress import Failed, wait_for
from nova_docker.aio import services
from nova_docker.aio import vm_image

COMPUTE = 'nova-compute-kvm'
LIBVIRTD = 'libvirtd'
VIRTLOGD = 'virtlogd'
DAEMONS = (VIRTLOGD, LIBVIRTD, COMPUTE)
CONF = 'nova-compute-kvm.conf'
# Where libvirt's ovs-vsctl finds its switch (Debian's default).
OVS_RUNDIR = '/run/openvswitch'
# Debian's packages: the hypervisor, libvirt's daemons with their Python
# binding (for Nova's driver), the kernel the test image boots, and the
# tool Nova makes config drives with.
PACKAGES = {
    'qemu-system-x86': '/usr/bin/qemu-system-x86_64',
    'qemu-utils': '/usr/bin/qemu-img',
    'libvirt-daemon': '/usr/sbin/libvirtd',
    'libvirt-daemon-driver-qemu': '/usr/lib/x86_64-linux-gnu/libvirt/'
                                  'connection-driver/libvirt_driver_qemu.so',
    'libvirt-clients': '/usr/bin/virsh',
    'python3-libvirt': '/usr/lib/python3/dist-packages/libvirt.py',
    'linux-image-amd64': vm_image.find_kernel,
    'genisoimage': '/usr/bin/genisoimage',
}
# Debian's python3-libvirt, for the venv's interpreter (the same Python):
# libvirt-python from PyPI would need a compiler and libvirt's headers.
BINDING = ('libvirt.py', 'libvirt_qemu.py', 'libvirtaio.py',
           'libvirtmod.cpython-*.so', 'libvirtmod_qemu.cpython-*.so')
# libvirt's own settings. Guests run as root (Debian's libvirt-qemu user
# comes with libvirt-daemon-system, whose scripts would start a system-wide
# libvirtd); no per-guest mount namespace and no security driver, which
# need what a container host may not offer.
LIBVIRT_CONF = {
    'libvirtd.conf': 'log_outputs = "3:stderr"\n',
    'virtlogd.conf': 'log_outputs = "3:stderr"\n',
    'qemu.conf': 'user = "root"\ngroup = "root"\nnamespaces = []\n'
                 'security_driver = "none"\n',
}
QEMU_USER = 'libvirt-qemu'
# How long a guest under KVM may take to print the marker before we call
# KVM broken here and use emulation (TCG boots the image in ~10 s).
KVM_PROBE_SECONDS = 20


SUFFIX = 'kvm'


def host(layout):
    """The KVM host's name: the Docker host's, with ``-kvm``."""
    return layout.compute_host + '-' + SUFFIX


def networked_host(layout):
    """On the networked all-in-one the KVM host is a
    computehost.NetworkedHost: its own namespace, switch and Neutron agent
    (ports bound to its host name). libvirtd runs in that namespace, so the
    guests' taps are made there, and sees that switch's run directory as
    /run/openvswitch, where libvirt's ``ovs-vsctl`` looks; nova-compute
    runs there too (os-vif plugs into the same switch)."""
    if not layout.networked:
        return None
    return computehost.NetworkedHost(layout, SUFFIX, index=3)


def missing_packages():
    return [name for name, present in PACKAGES.items()
            if not (present() if callable(present)
                    else os.path.exists(present))]


def link_binding(layout):
    """Debian's libvirt binding into the venv's site-packages."""
    site = glob.glob(os.path.join(layout.venv, 'lib', 'python3*',
                                  'site-packages'))[0]
    for pattern in BINDING:
        for path in glob.glob(os.path.join('/usr/lib/python3/dist-packages',
                                           pattern)):
            target = os.path.join(site, os.path.basename(path))
            if not os.path.lexists(target):
                os.symlink(path, target)


def virt_type(layout, files):
    """``kvm`` if a guest boots under KVM here, else ``qemu``.

    /dev/kvm opening is not enough: on some hosts (nested virtualisation
    that hides CPU features) KVM runs the firmware but the guest's kernel
    hangs before its first line. Probed once with the test image itself;
    the answer is kept in the state directory.
    """
    answer = layout.path('kvm', 'virt_type')
    try:
        with open(answer) as f:
            return f.read().strip()
    except FileNotFoundError:
        pass
    found = 'kvm' if _boots_under_kvm(files) else 'qemu'
    os.makedirs(os.path.dirname(answer), exist_ok=True)
    with open(answer, 'w') as f:
        f.write(found + '\n')
    return found


def _boots_under_kvm(files):
    if not os.access('/dev/kvm', os.R_OK | os.W_OK):
        return False
    argv = ['qemu-system-x86_64', '-accel', 'kvm', '-m', '128',
            '-nographic', '-no-reboot', '-nic', 'none',
            '-kernel', files['kernel'], '-initrd', files['ramdisk'],
            '-append', vm_image.COMMAND_LINE]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL,
                            stdin=subprocess.DEVNULL)
    os.set_blocking(proc.stdout.fileno(), False)
    seen = b''
    deadline = time.monotonic() + KVM_PROBE_SECONDS
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            seen += proc.stdout.read() or b''
            if vm_image.MARKER.encode() in seen:
                return True
            time.sleep(0.2)
        return False
    finally:
        proc.kill()
        proc.wait()


def _state(layout):
    net = networked_host(layout)
    return os.path.join(net.root, 'nova') if net else layout.path('nova-kvm')


def nova_conf(layout, kind):
    """nova-compute's configuration for the libvirt driver."""
    sections = configs.nova_compute(layout)
    state = _state(layout)
    sections.pop('docker', None)
    sections.pop('nova_docker_privileged', None)
    sections['DEFAULT'] = dict(
        sections['DEFAULT'], host=host(layout),
        compute_driver='libvirt.LibvirtDriver', state_path=state,
        instances_path=os.path.join(state, 'instances'),
        # VMs are not containers: no overcommit of the two cores beyond
        # Nova's default.
        initial_cpu_allocation_ratio='4.0',
        # Nova's default tool for config drives (ISO 9660).
        mkisofs_cmd='genisoimage')
    sections['libvirt'] = {'virt_type': kind,
                           'connection_uri': 'qemu:///system'}
    # The console log is a file (nova console log show) rather than the
    # serial console proxy's TCP port.
    sections['serial_console'] = {'enabled': 'False'}
    sections['oslo_concurrency'] = {'lock_path': os.path.join(state, 'lock')}
    # Nova's own privileged helpers (images, instance files), started from
    # the venv like the Docker host's (no sudo, no rootwrap).
    helper = '%s --config-file %s' % (layout.bin('privsep-helper'),
                                      configs.conf(layout, 'nova', CONF))
    sections['nova_sys_admin'] = {'helper_command': helper}
    sections['vif_plug_ovs_privileged'] = {'helper_command': helper}
    sections['vif_plug_linux_bridge_privileged'] = {
        'helper_command': helper}
    net = networked_host(layout)
    if net:
        for section, options in net.nova_options().items():
            sections[section] = dict(sections.get(section, {}), **options)
    return sections


def write_conf(layout, kind):
    os.makedirs(os.path.join(_state(layout), 'lock'), exist_ok=True)
    path = configs.conf(layout, 'nova', CONF)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, 'w') as f:
        f.write(configs.render(nova_conf(layout, kind)))
    return path


def write_libvirt_conf(layout):
    """The daemons' configuration directory, seen as /etc/libvirt by them
    only (see ``_own_etc``)."""
    etc = os.path.join(layout.etc, 'libvirt')
    os.makedirs(etc, exist_ok=True)
    for name, text in LIBVIRT_CONF.items():
        with open(os.path.join(etc, name), 'w') as f:
            f.write(text)
    return etc


def _own_mounts(layout, argv):
    """``argv`` in a mount namespace of its own where /etc/libvirt is the
    all-in-one's (the host's /etc stays as Debian's packages left it) and,
    on the networked all-in-one, /run/openvswitch the KVM host's switch's;
    and then in that host's network namespace."""
    binds = [(write_libvirt_conf(layout), '/etc/libvirt')]
    net = networked_host(layout)
    if net:
        binds.append((net.ovs_run, OVS_RUNDIR))
        argv = net.in_netns(argv)
    script = ' && '.join('mount --bind %s %s' % b for b in binds)
    return ['unshare', '--mount', '--propagation', 'private', '--',
            'sh', '-c', script + ' && exec "$@"', 'sh'] + argv


def _env(layout):
    net = networked_host(layout)
    return net.env() if net else None


def ensure_qemu_user():
    """The system user Debian's libvirt looks up before it reads qemu.conf
    (libvirt-daemon-system makes it; that package is not installed, see
    LIBVIRT_CONF)."""
    if subprocess.run(['id', QEMU_USER], capture_output=True).returncode:
        subprocess.run(['useradd', '--system', '--no-create-home',
                        '--home-dir', '/var/lib/libvirt', '--shell',
                        '/usr/sbin/nologin', QEMU_USER], check=True,
                       capture_output=True)


def start_libvirt(layout):
    """virtlogd (guests' console logs) and libvirtd, in the foreground."""
    os.makedirs('/etc/libvirt', exist_ok=True)
    ensure_qemu_user()
    services.start(layout, VIRTLOGD, _own_mounts(layout, [
        '/usr/sbin/virtlogd', '--pid-file',
        layout.path('run', 'virtlogd.own')]), env=_env(layout))
    services.start(layout, LIBVIRTD, _own_mounts(layout, [
        '/usr/sbin/libvirtd', '--pid-file',
        layout.path('run', 'libvirtd.own')]), env=_env(layout))
    wait_for(lambda: libvirt_answers(), 60, LIBVIRTD, layout.log(LIBVIRTD),
             alive=lambda: _alive(layout, (VIRTLOGD, LIBVIRTD)))


def libvirt_answers():
    return subprocess.run(['virsh', '-c', 'qemu:///system', 'version'],
                          capture_output=True, timeout=30).returncode == 0


def start_compute(layout):
    argv = [layout.bin('nova-compute'), '--config-file',
            configs.conf(layout, 'nova', CONF)]
    net = networked_host(layout)
    if net:
        # Its service name is nova-compute-kvm too (COMPUTE).
        return net.start_in_netns('nova-compute', argv)
    return services.start(layout, COMPUTE, argv,
                          env=configs.service_env(layout))


def _alive(layout, names):
    for name in names:
        if not services.read_pid(layout.pidfile(name)):
            raise Failed('%s exited' % name, layout.log(name))
    return True


def registered(layout, since):
    """The KVM host's nova-compute reports, and its node is listed."""
    c = bootstrap.admin_client(layout)
    nova = c.endpoint('compute')
    listed = c.call('GET', nova + '/os-services?binary=nova-compute&host='
                    + host(layout))['services']
    if not any(s['state'] == 'up' for s in listed):
        return False
    # libvirt names its node after the machine, not after ``host``.
    return any(h['service']['host'] == host(layout) for h in c.call(
        'GET', nova + '/os-hypervisors/detail',
        headers={'OpenStack-API-Version': 'compute 2.53'})['hypervisors'])


def up(layout, p, busybox):
    """Everything of the KVM host; the test image's Glance id."""
    with p.step('KVM host: test image (Debian kernel, busybox initramfs)'):
        files = vm_image.build(layout, busybox)
    link_binding(layout)
    with p.step('KVM host: does a guest boot under KVM here?'):
        kind = virt_type(layout, files)
        p.out.write('(virt_type %s) ' % kind)
    write_conf(layout, kind)
    net = networked_host(layout)
    if net:
        with p.step('KVM host: namespace, switch, Neutron agent'):
            net.start()
    with p.step('KVM host: virtlogd and libvirtd'):
        start_libvirt(layout)
    started = time.time()
    start_compute(layout)
    with p.step('KVM host: %s (Nova libvirt driver) registers' %
                host(layout)):
        # Mapped into the cell once it has a compute node record.
        wait_for(lambda: _quiet(_discovered, layout, started), 180, COMPUTE,
                 layout.log(COMPUTE),
                 alive=lambda: _alive(layout, DAEMONS))
    if net:
        with p.step('KVM host: its Open vSwitch agent reports'):
            net.wait_agent()
    with p.step('image %s (kernel, ramdisk, machine image)' %
                vm_image.IMAGE):
        return vm_image.ensure_glance_images(
            bootstrap.admin_client(layout), files)


def _discovered(layout, since):
    bootstrap.discover_hosts(layout)
    return registered(layout, since)


def _quiet(func, *args):
    try:
        return func(*args)
    except Exception:  # noqa: B902 - polled until it works or times out
        return False


def down(layout):
    """Stop the KVM host (whatever --kvm says now: it may have been
    started): {service: pid} of what was running."""
    stopped = services.stop(layout, (COMPUTE,))
    stopped.update(services.stop(layout, (LIBVIRTD, VIRTLOGD)))
    net = computehost.NetworkedHost(layout, SUFFIX, index=3)
    stopped.update(net.stop())
    return stopped


def health(layout, result):
    """The KVM host's rows for ``status``."""
    for name in DAEMONS:
        pid = services.read_pid(layout.pidfile(name))
        result[name] = [pid, bool(pid), '']
    if result[LIBVIRTD][0]:
        result[LIBVIRTD][1] = libvirt_answers()
        result[LIBVIRTD][2] = 'virt_type %s' % _recorded_virt_type(layout)
    try:
        up = registered(layout, 0)
    except Exception as e:  # noqa: B902 - status reports, it never fails
        result[COMPUTE][2] = 'Nova API unreachable: %s' % e
    else:
        result[COMPUTE][1] = result[COMPUTE][1] and up
        result[COMPUTE][2] = 'nova: host %s %s' % (
            host(layout), 'up' if up else 'not up')
    net = networked_host(layout)
    if net:
        result.update(net.health())


def _recorded_virt_type(layout):
    try:
        with open(layout.path('kvm', 'virt_type')) as f:
            return f.read().strip()
    except FileNotFoundError:
        return 'unknown'
