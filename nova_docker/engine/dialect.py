"""Which engine answers on the socket, and how its Docker API differs.

Docker and Podman (``podman system service``) both serve the Docker
Engine API, and the docker SDK drives both. Where Podman answers
differently, the difference is named here, once, and chosen from the
engine's identity (its ``/version`` components), never from the wording
of an error. A third engine speaking the Docker API is one more class
here.
"""

import resource

# Podman's component name in GET /version.
PODMAN_COMPONENT = 'Podman Engine'

# Podman gives a container RLIMIT_NOFILE and RLIMIT_NPROC of 1048576
# unless asked otherwise (Docker lets containers inherit the engine's).
# Raising a limit above the monitor's (conmon) needs CAP_SYS_RESOURCE,
# which a host may withhold from root (this project's test machines do:
# "error setting rlimit type 7"), and Podman 4.3 starts conmon with
# RLIMIT_NPROC 32768. So containers get explicit limits no higher than
# those, nor than this service's own hard limits (the host's, for an
# engine on this host).
PODMAN_NOFILE = 1048576
PODMAN_NPROC = 32768
# Docker container actions -> Podman's names for them, where they differ.
PODMAN_EVENT_NAMES = {'die': 'died'}
# Go's os.ModeSymlink, in the mode of the engine's stat of a path.
GO_MODE_SYMLINK = 1 << 27
# Podman container statuses -> Docker's, where they differ: 'stopped' is a
# workload that has ended whose clean-up (Podman's exit command) has not
# run yet, about a second here; Docker says 'exited' at once.
PODMAN_STATUSES = {'stopped': 'exited'}
# Domains Podman gives short image names in its listings.
PODMAN_SHORT_NAME_DOMAINS = ('docker.io/', 'localhost/')
# What faults and logs call an engine that has not answered yet ([docker]
# api_url names a socket or address, not which engine serves it), and
# what to start there.
UNKNOWN_ENGINE_NAME = 'container engine'
UNKNOWN_ENGINE_SERVICE = 'its engine (dockerd, or podman system service)'


class DockerDialect(object):
    """Docker Engine: the API as documented."""

    name = 'docker'
    # What faults, logs and the compute service's disabled reason call
    # this engine, and the process an operator starts to serve it.
    engine_name = 'Docker engine'
    service = 'dockerd'

    @staticmethod
    def restart_marker(api):
        """Asked of the engine through ``api`` (a docker.APIClient): what
        changes when it restarts. Docker's ID is the daemon's, kept across
        restarts; with the serving process's identity it tells one."""
        return api.info()['ID']

    def create_args(self, create_args):
        """Container create arguments as this engine needs them."""
        return create_args

    # Whether a container joining another's network namespace needs
    # that container's inspect record to be made (see joined()).
    joined_needs_owner = False

    def joined(self, create_args, owner):
        """Create arguments of a container joining the network namespace
        of the container whose inspect record is ``owner``. Docker gives
        the joining container its owner's hostname."""
        return create_args

    def rejoined(self, config, owner):
        """The create config (the API's form, from an inspect) of a
        container made again to join owner's network namespace."""
        # Docker refuses these on a joining container.
        return {key: value for key, value in config.items()
                if key not in ('Hostname', 'Domainname')}

    def short_tag(self, tag):
        """An image tag the engine lists, as this driver named it."""
        return tag

    def status(self, status):
        """A container's status (State.Status, a listing's State) in
        Docker's words."""
        return status

    def record(self, record):
        """A container's inspect record with its status in Docker's
        words."""
        state = record.get('State')
        if state and 'Status' in state:
            state['Status'] = self.status(state['Status'])
        return record

    def commit_args(self, blank_labels):
        """Commit arguments (docker.APIClient.commit) that leave these
        labels, copied from the container, empty in the image."""
        return {'conf': {'Labels': {label: '' for label in blank_labels}}}

    # Whether a load skips a layer the engine already has without opening
    # its file: an archive may then leave such layers out (a move sends
    # only what the server wrote).
    loads_without_known_layers = True

    # Whether a file read from a container (get_archive) comes with its
    # owner: a file written back with that owner keeps it.
    downloads_report_owners = True

    def path_stat(self, stat):
        """The engine's stat of a path in a container, with
        ``linkTarget`` set only for a symbolic link."""
        return stat

    def event_filter(self, actions):
        """The names to filter the event stream by, for these Docker
        container actions."""
        return list(actions)


class PodmanDialect(DockerDialect):
    """Podman's Docker-compatible API (checked against Podman 4.3)."""

    name = 'podman'
    engine_name = 'Podman engine'
    service = 'podman system service'

    @staticmethod
    def restart_marker(api):
        # Podman's info 'ID' is a new random uuid on every call, and info
        # costs it about a second (it asks conmon and the runtime for their
        # versions): a ping says it answers; the serving process (the
        # socket's peer) alone tells a restart.
        api.ping()
        return None

    def create_args(self, create_args):
        podman_args = dict(create_args)
        if not podman_args.get('ulimits'):
            podman_args['ulimits'] = podman_ulimits()
        # Without a limit Podman applies its containers.conf default (2048
        # pids); -1 is Docker's "unlimited", which Podman honours.
        podman_args.setdefault('pids_limit', -1)
        return podman_args

    joined_needs_owner = True

    def joined(self, create_args, owner):
        # Podman joins the network namespace only: the joining container
        # keeps a hostname of its own (its id) unless given the owner's.
        # Its /etc/hosts and resolv.conf are the server's (etcfiles).
        return dict(create_args, hostname=owner['Config']['Hostname'])

    def rejoined(self, config, owner):
        host_config = dict(config['HostConfig'])
        # Podman's inspect names limits as the kernel does (RLIMIT_NOFILE)
        # but takes only Docker's names (nofile) at create.
        host_config['Ulimits'] = [
            dict(limit, Name=limit['Name'].lower().replace('rlimit_', '', 1))
            for limit in host_config.get('Ulimits') or []]
        return dict(config, Hostname=owner['Config']['Hostname'],
                    HostConfig=host_config)

    # Podman 4.3's load reads every layer the manifest names ("payload
    # does not match any of the supported image formats" for a missing
    # one): a move sends the whole image.
    loads_without_known_layers = False

    # Podman 4.3 says every file it reads out belongs to the container's
    # user (on disk /etc/shadow is root's; it says the image user's).
    downloads_report_owners = False

    def commit_args(self, blank_labels):
        # Podman's commit ignores the config body; it takes Dockerfile
        # instructions.
        return {'changes': ['LABEL %s=""' % label for label in blank_labels]}

    def short_tag(self, tag):
        # Podman lists fully qualified names: a tag made through the API
        # as 'nova-glance/<id>:latest' comes back 'docker.io/nova-glance/
        # <id>:latest', one loaded without a domain 'localhost/...'. It
        # resolves the short name again in every lookup.
        for domain in PODMAN_SHORT_NAME_DOMAINS:
            if tag.startswith(domain):
                return tag[len(domain):]
        return tag

    def status(self, status):
        return PODMAN_STATUSES.get(status, status)

    def path_stat(self, stat):
        # Podman sets linkTarget on every path (to the path itself, or
        # where it resolves); the mode says whether it is a link.
        if stat.get('linkTarget') and not stat['mode'] & GO_MODE_SYMLINK:
            return dict(stat, linkTarget='')
        return stat

    def event_filter(self, actions):
        # Podman filters by its own event names ('died'), though the
        # events it then sends carry Docker's ('die'): a filter on 'die'
        # matches nothing.
        return [PODMAN_EVENT_NAMES.get(a, a) for a in actions]


def podman_ulimits(getrlimit=resource.getrlimit):
    """Explicit nofile and nproc limits a Podman container may have (see
    PODMAN_NOFILE), as docker SDK Ulimit dicts."""
    limits = []
    for name, kind, ceiling in (('nofile', resource.RLIMIT_NOFILE,
                                 PODMAN_NOFILE),
                                ('nproc', resource.RLIMIT_NPROC,
                                 PODMAN_NPROC)):
        _soft, hard = getrlimit(kind)
        value = ceiling if hard == resource.RLIM_INFINITY else min(
            hard, ceiling)
        limits.append({'Name': name, 'Soft': value, 'Hard': value})
    return limits


def detect(version):
    """The dialect of an engine, from its GET /version answer."""
    names = [c.get('Name') for c in version.get('Components') or []]
    if PODMAN_COMPONENT in names:
        return PodmanDialect()
    return DockerDialect()
