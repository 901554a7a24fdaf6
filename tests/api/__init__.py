# Nova's functional tests run in eventlet mode unless
# OS_NOVA_DISABLE_EVENTLET_PATCHING=1 asks for native threads; the test
# command runs this package both ways. Patching must come before anything
# imports futurist or eventlet.
from nova import monkey_patch

monkey_patch.patch()
