"""What this driver does, as tempest's [compute-feature-enabled] options.

The one list both tempest configurations use: the all-in-one's
(``nova-docker-aio tempest``) and the devstack plugin's (test-config phase).
Nothing on here fails, nothing off here works. Standard library only: the
devstack plugin runs this file with any python3,
``python3 nova_docker/tempest_features.py [--networked]``, which prints one
``option value`` line each.
"""

import sys


def compute_features(networked):
    """{option: 'True'|'False'}; ``networked``: servers get Neutron ports
    that are bound and plugged (ports can then be attached and detached)."""
    return {
        'pause': 'True',
        'console_output': 'True',
        'suspend': 'False',
        'shelve': 'True',
        'shelve_migrate': 'False',
        'snapshot': 'True',
        'resize': 'True',
        'cold_migration': 'True',
        'live_migration': 'False',
        'block_migration_for_live_migration': 'False',
        'rescue': 'True',
        'stable_rescue': 'False',
        'change_password': 'True',
        'interface_attach': str(bool(networked)),
        'config_drive': 'True',
        'personality': 'True',
        'vnc_console': 'False',
        'spice_console': 'False',
        'serial_console': 'True',
        'attach_encrypted_volume': 'False',
        'volume_multiattach': 'False',
        'swap_volume': 'False',
        'metadata_service': 'False',
        'disk_config': 'False',
    }


if __name__ == '__main__':
    for option, value in compute_features('--networked' in sys.argv).items():
        print(option, value)
