import sys

from nova_docker.aio import cli

sys.exit(cli.main())
