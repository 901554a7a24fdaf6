"""The all-in-one's venv: the services from PyPI and this project.

Installed once (a stamp records what); this project alone is reinstalled
when its code changes, so a re-run of ``up`` picks up driver changes in
seconds. The install is not editable: Nova loads the driver through the
``nova/virt/novadocker`` shim, which only a real install puts into the nova
package.
"""

import hashlib
import os
import subprocess

from nova_docker.aio.progress import Failed

REQUIREMENTS = (
    'keystone>=30,<31',
    'glance>=33,<34',
    'openstack-placement>=16,<17',
    'nova>=34,<35',
    'neutron>=29,<30',
    'python-openstackclient',
    # Orchestration: heat-api, heat-engine and `openstack stack`.
    'openstack-heat>=27,<28',
    'python-heatclient',
    # 4.6.0 (pulled in by heat) names a command class it does not have:
    # every `openstack` command then prints "Could not load
    # 'reservation_host_unset'".
    'python-blazarclient<4.6',
    'gunicorn',
    'PyMySQL',
    # 2.1 deprecates APIs these services use.
    'SQLAlchemy<2.1',
)


def project_root():
    return os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))))


def _digest(paths):
    h = hashlib.sha256()
    for top in paths:
        walk = (os.walk(top) if os.path.isdir(top)
                else [(os.path.dirname(top), [], [os.path.basename(top)])])
        for dirpath, dirnames, filenames in walk:
            dirnames[:] = sorted(d for d in dirnames if d != '__pycache__')
            for name in sorted(filenames):
                if name.endswith('.pyc'):
                    continue
                path = os.path.join(dirpath, name)
                h.update(path.encode())
                with open(path, 'rb') as f:
                    h.update(f.read())
    return h.hexdigest()[:16]


def _read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except FileNotFoundError:
        return None


def _pip(layout, args, log):
    with open(log, 'ab') as out:
        rc = subprocess.call([layout.bin('pip'), '-q'] + args,
                             stdout=out, stderr=out)
    if rc:
        raise Failed('pip install failed', log)


def ensure_services(layout, python):
    """Create the venv with the services; True if there was work to do."""
    stamp = os.path.join(layout.venv, '.aio-requirements')
    # The driver's own dependencies too: the project itself is installed
    # without them (see ensure_project).
    own = os.path.join(project_root(), 'requirements.txt')
    with open(own) as f:
        want = ('\n'.join(REQUIREMENTS) + '\n' + f.read()).strip()
    if _read(stamp) == want:
        return False
    log = layout.log('pip')
    if not os.path.exists(layout.bin('python')):
        if subprocess.call([python, '-m', 'venv', layout.venv]):
            raise Failed('%s -m venv %s failed' % (python, layout.venv))
    _pip(layout, ['install', '--upgrade', 'pip'], log)
    _pip(layout, ['install', '-r', own] + list(REQUIREMENTS), log)
    with open(stamp, 'w') as f:
        f.write(want)
    return True


def ensure_project(layout):
    """(Re)install this project when its code changed; True if it did."""
    root = project_root()
    stamp = os.path.join(layout.venv, '.aio-project')
    want = _digest([os.path.join(root, p)
                    for p in ('nova_docker', 'nova', 'setup.cfg')])
    if _read(stamp) == want:
        return False
    _pip(layout, ['install', '--no-deps', '--force-reinstall', root],
         layout.log('pip'))
    with open(stamp, 'w') as f:
        f.write(want)
    return True
