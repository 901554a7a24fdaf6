"""WSGI applications for gunicorn: ``nova_docker.aio.wsgi:keystone()``.

The services' own WSGI modules build their application at import time and
some hand ``sys.argv`` to oslo.config, which would choke on gunicorn's
arguments: each factory clears argv first. Config locations come from the
environment that ``up`` sets (OS_<SERVICE>_CONFIG_DIR).
"""

import importlib
import os
import sys


def _load(module):
    sys.argv = sys.argv[:1]
    return importlib.import_module(module).application


def keystone():
    return _load('keystone.wsgi.api')


def glance():
    return _load('glance.wsgi.api')


def placement():
    return _load('placement.wsgi.api')


def nova():
    return _load('nova.wsgi.osapi_compute')


def heat():
    # heat's application reads its command line (oslo.config): hand it the
    # config file, as gunicorn's own arguments are gone.
    sys.argv = sys.argv[:1] + ['--config-file',
                               os.environ['OS_HEAT_CONFIG_FILE']]
    return importlib.import_module('heat.wsgi.api').application


def neutron():
    app = _load('neutron.wsgi.api')
    # A fresh neutron process configures its ORM mappers lazily, and the
    # first /v2.0/ports request can fail half-way through that: configure
    # them all now, before any request.
    import sqlalchemy.orm
    from neutron.db.migration.models import head  # noqa: F401
    sqlalchemy.orm.configure_mappers()
    return app
