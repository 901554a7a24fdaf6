"""Run a one-worker oslo.service daemon in one process:
``python -m nova_docker.aio.single_process nova-conductor <its arguments>``
(which serves nova-scheduler's service too: BESIDE).

oslo.service's threading backend runs even a single worker through
cotyledon: a master process forks the worker and then only watches it, yet
holds 60-85 MiB (PSS) of its own per daemon here, for nova-conductor,
nova-scheduler and neutron-rpc-server alike. Nova runs its own
nova-compute with ``no_fork=True`` (the service in the main process;
SIGTERM still stops it gracefully, SIGINT at once); this gives the
all-in-one's other one-worker daemons the same. A daemon asked for
several workers through launch() still forks them.
"""

import functools
import importlib
import signal
import sys

# The console script each daemon is: its module and function.
DAEMONS = {
    'nova-conductor': ('nova.cmd.conductor', 'main'),
    # Its service's wait() returns at once: see in_process.
    'heat-engine': ('heat.cmd.engine', 'main'),
    # Its one RPC worker (rpc_workers = 1, no state-report workers) goes
    # through a ProcessLauncher of its own making.
    'neutron-rpc-server': ('neutron.cmd.server', 'main_rpc'),
}

# A daemon that runs in another's process (one Nova, one config file: a
# process of its own cost ~115 MiB PSS after tempest), and that process.
BESIDE = {'nova-scheduler': 'nova-conductor'}


def in_process(launch, conf, service, workers=1, **kwargs):
    """oslo.service's launch(), with a single worker in this process.

    The launcher's no_fork mode starts the service, returns when the
    service's wait() does, and its wait() then returns at once. Heat's
    engine does its work in threads and its wait() returns at once: the
    daemon's main() would return and the interpreter shut down around
    those threads (the engine then never answered). So this process
    waits for the signal that ends it (SIGTERM: the launcher stops the
    service gracefully and exits).
    """
    if workers != 1:
        return launch(conf, service, workers=workers, **kwargs)
    # Nova's serve() passes no_fork (False) itself.
    launch(conf, service, workers=1, **dict(kwargs, no_fork=True))
    while True:
        signal.pause()


def one_process_launcher(launcher_class):
    """oslo.service's ProcessLauncher, running its one service in this
    process (launch_service then returns when the service has stopped)."""

    class OneProcessLauncher(launcher_class):
        def __init__(self, conf, **kwargs):
            super().__init__(conf, **dict(kwargs, no_fork=True))

        def launch_service(self, service, workers=1):
            if workers != 1:
                raise ValueError('%d workers asked of a daemon run in one '
                                 'process: configure one' % workers)
            return super().launch_service(service, workers)

    return OneProcessLauncher


def together(*daemon_services):
    """One oslo.service service made of several, started and stopped in
    turn."""
    from oslo_service import service

    def each(method):
        def call_each(self):
            for daemon_service in daemon_services:
                getattr(daemon_service, method)()
        return call_each

    class Together(service.ServiceBase):
        start = each('start')
        stop = each('stop')
        wait = each('wait')
        reset = each('reset')

    return Together()


def with_nova_scheduler(serve):
    """nova.service.serve, serving nova-scheduler's service beside the one
    it is given (made there: after Nova has read its config)."""
    def serve_both(server, *args, **kwargs):
        from nova.scheduler import rpcapi
        from nova import service
        scheduler = service.Service.create(binary='nova-scheduler',
                                           topic=rpcapi.RPC_TOPIC)
        return serve(together(server, scheduler), *args, **kwargs)
    return serve_both


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    name, args = argv[0], argv[1:]
    module_name, function = DAEMONS[name]
    # The daemon's module first: importing it chooses oslo.service's
    # backend, which oslo_service.service binds its launchers to.
    module = importlib.import_module(module_name)
    from oslo_service import service
    service.launch = functools.partial(in_process, service.launch)
    service.ProcessLauncher = one_process_launcher(service.ProcessLauncher)
    if BESIDE.get('nova-scheduler') == name:
        from nova import service as nova_service
        nova_service.serve = with_nova_scheduler(nova_service.serve)
    # The daemon names its logs and config lookups after argv[0].
    sys.argv = [name] + args
    return getattr(module, function)()


if __name__ == '__main__':
    sys.exit(main())
