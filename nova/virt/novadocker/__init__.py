# Nova loads 'nova.virt.<compute_driver>'; this shim makes
# compute_driver = novadocker.DockerDriver find the driver in nova_docker.
from nova_docker.driver import DockerDriver  # noqa: F401
