# Driver tests against the real engine run in Nova 34's default compute
# mode: native threads.
from nova import monkey_patch

monkey_patch.patch(backend='threading')
