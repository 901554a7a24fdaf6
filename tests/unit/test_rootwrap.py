"""Where nova-compute runs unprivileged with Nova's rootwrap as its root
helper (devstack, distribution packages), the driver's and os-vif's privsep
daemons start through it with Nova's own filters: oslo.rootwrap always lets
privsep-helper through, so this project ships no filter file of its own."""

import os
import sys
import unittest

from oslo_rootwrap import wrapper
from vif_plug_ovs import privsep as vif_plug_ovs_privsep

from nova_docker import privsep

# Nova's compute.filters, as its wheel installs them.
NOVA_FILTERS = os.path.join(sys.prefix, 'etc', 'nova', 'rootwrap.d')
# Where privsep-helper is installed beside this Python.
EXEC_DIRS = [os.path.dirname(sys.executable)]


class TestNovaRootwrap(unittest.TestCase):

    def test_privsep_daemons_of_the_driver_and_os_vif_may_start(self):
        filters = wrapper.load_filters([NOVA_FILTERS])
        for context in (privsep.net_admin, privsep.fs_admin,
                        vif_plug_ovs_privsep.vif_plug):
            argv = context.helper_command('/tmp/tmpab12cd/privsep.sock')
            helper = argv[argv.index('privsep-helper'):]
            match = wrapper.match_filter(filters, helper, EXEC_DIRS)
            self.assertEqual('root', match.run_as)
