"""Tempest against the all-in-one: its own venv, a tempest.conf that says
what this cloud and driver really do, and the exclusions with reasons.

``nova-docker-aio tempest`` runs tempest 47's ``tempest.api.compute.servers``
with two workers (the suite OpenStack uses to accept a driver).
"""

import os
import subprocess

from nova_docker.aio import bootstrap
from nova_docker.aio import configs
from nova_docker.aio import images
from nova_docker.aio.layout import REGION
from nova_docker.aio import network
from nova_docker.aio.progress import Failed
from nova_docker import tempest_features

TEMPEST = 'tempest>=47,<48'
DEFAULT_REGEX = r'^tempest\.api\.compute\.servers'
# Tempest's multi-node migration tests, run when two compute hosts are up
# (up --computes 2); tempest skips them below min_compute_nodes = 2.
MULTINODE_REGEX = (r'^tempest\.api\.compute\.admin\.test_migrations\.'
                   r'MigrationsAdminTest\.test_(revert_)?cold_migration')


def default_regex(layout):
    if layout.computes < 2:
        return DEFAULT_REGEX
    return '(%s|%s)' % (DEFAULT_REGEX, MULTINODE_REGEX)


# Without Neutron agents (``up --network none``) servers have no ports.
# Each class below needs a bound port or an address on the server.
EXCLUDED_WITHOUT_NETWORK = {
    r'test_create_server_multi_nic\.ServersTestMultiNic':
        'creates networks and boots with ports on them',
    r'test_device_tagging\.TaggedBootDevicesTest':
        'boots with tagged ports (and both v2.32 and v2.42 classes)',
    r'test_server_addresses\.ServerAddressesTestJSON':
        'asserts the server has addresses, i.e. a port',
    r'test_server_actions\.ServerActionsTestOtherA\.'
    r'test_remove_server_all_security_groups':
        'security groups live on ports; a server without one has none',
}


def excluded(layout):
    return {} if layout.networked else EXCLUDED_WITHOUT_NETWORK


def _venv(layout):
    return layout.path('tempest-venv')


def ensure_installed(layout, python):
    venv = _venv(layout)
    stamp = os.path.join(venv, '.aio-tempest')
    if os.path.exists(stamp):
        return
    log = layout.log('tempest-pip')
    with open(log, 'ab') as out:
        for argv in ([python, '-m', 'venv', venv],
                     [os.path.join(venv, 'bin', 'pip'), '-q', 'install',
                      TEMPEST]):
            if subprocess.call(argv, stdout=out, stderr=out):
                raise Failed('installing tempest failed', log)
    open(stamp, 'w').close()


def upload_images(layout, client):
    """The images tempest boots: (image_ref, image_ref_alt). The second
    is a Glance image of its own, so that rebuild tests see the image
    change."""
    archive = images.build_archive(layout, '/bin/busybox')
    return (images.ensure_glance_image(client, archive),
            images.ensure_glance_image(client, archive, name='busybox-alt'))


def config(layout, image, alt_image):
    """tempest.conf's sections for this cloud (pure: the images are
    uploaded before, see upload_images)."""
    keystone = layout.url('keystone', '/v3')
    return {
        'DEFAULT': {'log_dir': layout.path('tempest', 'logs'),
                    'log_file': 'tempest.log'},
        'auth': {
            'admin_username': 'admin',
            'admin_password': layout.secret('admin'),
            'admin_project_name': 'admin',
            'admin_domain_name': 'Default',
            'use_dynamic_credentials': 'True',
            # Tests' projects get no network of their own (that would need
            # a router): they boot on the shared ``private`` network, or,
            # without agents, with no port at all.
            'create_isolated_networks': 'False',
        },
        'identity': {'uri_v3': keystone, 'auth_version': 'v3',
                     'region': REGION},
        'compute': {
            'image_ref': image,
            'image_ref_alt': alt_image,
            'flavor_ref': '42',
            'flavor_ref_alt': '84',
            'region': REGION,
            'hypervisor_type': 'docker',
            'min_compute_nodes': str(layout.computes),
            'max_microversion': 'latest',
            'build_timeout': '120',
            **({'fixed_network_name': network.PRIVATE}
               if layout.networked else {}),
        },
        'compute-feature-enabled': tempest_features.compute_features(
            layout.networked),
        'validation': {'run_validation': 'False'},
        'service_available': {
            'nova': 'True', 'glance': 'True', 'neutron': 'True',
            'cinder': 'False', 'swift': 'False', 'heat': 'False',
            'horizon': 'False', 'placement': 'True'},
        'network-feature-enabled': {'floating_ips': 'False'},
        'image-feature-enabled': {'import_image': 'False'},
        'oslo_concurrency': {'lock_path': layout.path('tempest', 'lock')},
    }


def run(layout, python, regex=None, concurrency=2):
    regex = regex or default_regex(layout)
    workspace = layout.path('tempest')
    ensure_installed(layout, python)
    tempest = os.path.join(_venv(layout), 'bin', 'tempest')
    if not os.path.exists(os.path.join(workspace, '.stestr.conf')):
        # Workspaces are registered by name (in ~/.tempest): one per
        # all-in-one. A state directory made anew finds its old name still
        # registered, which init refuses: forget it first.
        log = layout.log('tempest-init')
        with open(log, 'ab') as out:
            subprocess.call([tempest, 'workspace', 'remove', '--name',
                             layout.compute_host], stdout=out, stderr=out)
            if subprocess.call([tempest, 'init', '--name',
                                layout.compute_host, workspace],
                               stdout=out, stderr=out):
                raise Failed('tempest init failed', log)
    image, alt_image = upload_images(layout, bootstrap.admin_client(layout))
    conf = os.path.join(workspace, 'etc', 'tempest.conf')
    with open(conf, 'w') as f:
        f.write(configs.render(config(layout, image, alt_image)))
    argv = [tempest, 'run', '--config-file', conf, '--regex', regex,
            '--concurrency', str(concurrency)]
    exclusions = excluded(layout)
    if exclusions:
        exclude_list = os.path.join(workspace, 'etc', 'aio-exclude.txt')
        with open(exclude_list, 'w') as f:
            for pattern, why in exclusions.items():
                f.write('%s  # %s\n' % (pattern, why))
        argv += ['--exclude-list', exclude_list]
    print('$ ' + ' '.join(argv), flush=True)
    return subprocess.call(argv, cwd=workspace)
