"""Names and labels this driver puts on engine objects (pure).

Containers and images are found again by these, never by Glance or Nova
display names, which tenants choose and may repeat.
"""

LABEL_PREFIX = 'org.openstack.nova.'
INSTANCE_UUID = LABEL_PREFIX + 'instance-uuid'
INSTANCE_NAME = LABEL_PREFIX + 'instance-name'
COMPUTE_HOST = LABEL_PREFIX + 'compute-host'
IMAGE_ID = LABEL_PREFIX + 'image-id'
# On an instance's infra container, which carries no INSTANCE_UUID so that
# listings of instances never count it.
INFRA_FOR = LABEL_PREFIX + 'infra-for'
DRIVER_LABELS = (INSTANCE_UUID, INSTANCE_NAME, COMPUTE_HOST, IMAGE_ID,
                 INFRA_FOR)

IMAGE_REPOSITORY = 'nova-glance/'
SNAPSHOT_REPOSITORY = 'nova-snapshot/'


def container_name(instance_uuid):
    return 'nova-' + instance_uuid


def infra_name(instance_uuid):
    """The container that owns the instance's network namespace."""
    return 'nova-%s-infra' % instance_uuid


def image_reference(image_id, checksum=None):
    """Engine tag of a Glance image: its id, and its checksum if known, so
    that re-uploaded data under a reused id is never mistaken for the old.
    """
    return '%s%s:%s' % (IMAGE_REPOSITORY, image_id, checksum or 'latest')


def snapshot_reference(snapshot_id):
    """Engine tag of a snapshot while it is being uploaded."""
    return '%s%s:latest' % (SNAPSHOT_REPOSITORY, snapshot_id)


def glance_id_of(ref):
    """The Glance image id in an image_reference, or None."""
    if not ref.startswith(IMAGE_REPOSITORY):
        return None
    return ref[len(IMAGE_REPOSITORY):].split(':', 1)[0]


# The infra image: one per pause binary content, so that an updated binary
# never hides behind an old image.
INFRA_REPOSITORY = 'nova-docker/infra'


def infra_image_reference(binary_digest):
    return '%s:%s' % (INFRA_REPOSITORY, binary_digest[:16])
