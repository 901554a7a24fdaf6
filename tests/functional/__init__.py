# Driver tests against the real engine run in Nova 34's default compute
# mode: native threads. The environment variable says so to Nova's own test
# modules too (nova.tests.fixtures imports nova.tests.functional, which
# patches for eventlet unless told otherwise).
import os

os.environ.setdefault('OS_NOVA_DISABLE_EVENTLET_PATCHING', '1')

from nova import monkey_patch  # noqa: E402

monkey_patch.patch(backend='threading')
