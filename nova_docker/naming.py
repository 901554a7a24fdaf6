"""Names and labels this driver puts on engine objects (pure).

Containers and images are found again by these, never by Glance or Nova
display names, which tenants choose and may repeat.
"""

import os
import re

LABEL_PREFIX = 'org.openstack.nova.'
INSTANCE_UUID = LABEL_PREFIX + 'instance-uuid'
INSTANCE_NAME = LABEL_PREFIX + 'instance-name'
COMPUTE_HOST = LABEL_PREFIX + 'compute-host'
IMAGE_ID = LABEL_PREFIX + 'image-id'
# On an instance's infra container, which carries no INSTANCE_UUID so that
# listings of instances never count it.
INFRA_FOR = LABEL_PREFIX + 'infra-for'
# On a rescued instance's rescue container, for the same reason.
RESCUE_FOR = LABEL_PREFIX + 'rescue-for'
DRIVER_LABELS = (INSTANCE_UUID, INSTANCE_NAME, COMPUTE_HOST, IMAGE_ID,
                 INFRA_FOR, RESCUE_FOR)

IMAGE_REPOSITORY = 'nova-glance/'
SNAPSHOT_REPOSITORY = 'nova-snapshot/'
# A resized or migrated server's files, committed from its container.
MIGRATION_REPOSITORY = 'nova-migration/'


def container_name(instance_uuid):
    return 'nova-' + instance_uuid


def infra_name(instance_uuid):
    """The container that owns the instance's network namespace."""
    return 'nova-%s-infra' % instance_uuid


def rescue_name(instance_uuid):
    """The rescue image's container while the instance is rescued."""
    return 'nova-%s-rescue' % instance_uuid


def image_reference(image_id, checksum=None):
    """Engine tag of a Glance image: its id, and its checksum if known, so
    that re-uploaded data under a reused id is never mistaken for the old.
    """
    return '%s%s:%s' % (IMAGE_REPOSITORY, image_id, checksum or 'latest')


def resized_from_name(instance_uuid):
    """The original container, kept until a resize is confirmed or
    reverted."""
    return 'nova-%s-resized-from' % instance_uuid


def migration_reference(instance_uuid, migration_id):
    """Engine tag of a server's files committed for a resize or move."""
    return '%s%s:%s' % (MIGRATION_REPOSITORY, instance_uuid, migration_id)


def snapshot_reference(snapshot_id, host):
    """Engine tag of a snapshot while it is being uploaded. The tag names
    the compute host, so that at start-up a host removes the leftovers of
    its own interrupted uploads and never another host's upload in
    progress on a shared engine."""
    return '%s%s:%s' % (SNAPSHOT_REPOSITORY, snapshot_id, host_tag(host))


def host_tag(host):
    """A compute host name as an engine tag ([A-Za-z0-9_.-], at most 128,
    not starting with '.' or '-')."""
    return re.sub(r'[^A-Za-z0-9_.-]', '_', '_' + host
                  if host[:1] in '.-' else host)[:128]


# Staging files of Glance downloads: named after the compute host, for the
# same reason as snapshot tags.
STAGING_PREFIX = 'nova-docker-image-'


def staging_prefix(host):
    return '%s%s-' % (STAGING_PREFIX, host.replace(os.sep, '_'))


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
