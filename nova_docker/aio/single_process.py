"""Run a one-worker oslo.service daemon in one process:
``python -m nova_docker.aio.single_process nova-conductor <its arguments>``.

oslo.service's threading backend runs even a single worker through
cotyledon: a master process forks the worker and then only watches it, yet
holds about 85 MiB (PSS) of its own per daemon here, for nova-conductor,
nova-scheduler and heat-engine alike. Nova runs its own nova-compute with
``launch(..., no_fork=True)`` (the service in the main process; SIGTERM
still stops it gracefully, SIGINT at once); this gives the all-in-one's
other one-worker daemons the same. A daemon asked for several workers
still forks them.
"""

import functools
import importlib
import sys

# The console script each daemon is, as its module (with a main()).
DAEMONS = {
    'nova-conductor': 'nova.cmd.conductor',
    'nova-scheduler': 'nova.cmd.scheduler',
    'heat-engine': 'heat.cmd.engine',
}


def in_process(launch, conf, service, workers=1, **kwargs):
    """oslo.service's launch(), with a single worker in this process."""
    if workers == 1:
        kwargs['no_fork'] = True
    return launch(conf, service, workers=workers, **kwargs)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    name, args = argv[0], argv[1:]
    # The daemon's module first: importing it chooses oslo.service's
    # backend, which oslo_service.service binds its launch() to.
    module = importlib.import_module(DAEMONS[name])
    from oslo_service import service
    service.launch = functools.partial(in_process, service.launch)
    # The daemon names its logs and config lookups after argv[0].
    sys.argv = [name] + args
    return module.main()


if __name__ == '__main__':
    sys.exit(main())
