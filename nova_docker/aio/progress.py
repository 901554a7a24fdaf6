"""Step-by-step progress with elapsed time; a failure names its log."""

import contextlib
import sys
import time


class Failed(Exception):
    """A step failed; ``log`` is the file that says why."""

    def __init__(self, what, log=None):
        super().__init__(what)
        self.what = what
        self.log = log


class Progress:
    def __init__(self, out=sys.stdout):
        self.started = time.monotonic()
        self.out = out

    def elapsed(self):
        return time.monotonic() - self.started

    def say(self, text):
        self.out.write('[%6.1fs] %s\n' % (self.elapsed(), text))
        self.out.flush()

    @contextlib.contextmanager
    def step(self, text):
        t0 = time.monotonic()
        self.out.write('[%6.1fs] %s ... ' % (self.elapsed(), text))
        self.out.flush()
        try:
            yield
        except Failed:
            self.out.write('FAILED\n')
            raise
        except Exception as e:
            self.out.write('FAILED\n')
            raise Failed('%s: %s' % (text, e)) from e
        self.out.write('ok (%.1fs)\n' % (time.monotonic() - t0))
        self.out.flush()


def wait_for(check, timeout, what, log=None, alive=None, interval=0.25):
    """Poll ``check`` until true; fail early when ``alive`` says the process
    that should make it true has died."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return
        if alive is not None and not alive():
            raise Failed('%s: the process exited' % what, log)
        if time.monotonic() > deadline:
            raise Failed('%s: not ready after %ds' % (what, timeout), log)
        time.sleep(interval)
