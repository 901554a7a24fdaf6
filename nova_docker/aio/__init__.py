"""nova-docker-aio: a small but real OpenStack with this driver on one host.

Keystone, Glance, Placement, Nova (api, scheduler, conductor, compute with
``novadocker.DockerDriver``) and neutron-server on MariaDB and RabbitMQ,
everything on 127.0.0.1 and under one state directory.

This package uses the standard library only: ``python3 -m nova_docker.aio
up`` works from a checkout on a fresh machine, before any venv exists.
"""
