"""Where a boot's time goes: a timeline per server, from the all-in-one's
logs (nova-api, nova-compute, the Open vSwitch agent, ovs-vswitchd) and the
engine's container events, as medians over the servers measured.

``Logs`` notes where each log ends before the boots; ``timelines`` then
reads only what was written since, and finds each milestone of each server
by its uuid (and its port id, taken from the driver's "Plugged port" line).
Milestones a side does not have (the floor plugs nothing) are left out.
"""

import datetime
import re
import statistics
import threading
import time

OVS_LOG = '/var/log/openvswitch/ovs-vswitchd.log'

# (milestone, what happened by then), in the order a boot passes them.
MILESTONES = (
    ('claim', 'nova-compute claimed the host (API, scheduler, conductor)'),
    ('infra_created', 'infra container created (port made, bound before)'),
    ('infra_started', 'infra container started'),
    ('switch_port', 'host end on br-int (privsep veth, os-vif plug)'),
    ('plugged', 'NIC configured in the namespace (privsep)'),
    ('agent_port', 'Open vSwitch agent handles the port (its loop)'),
    ('agent_wired', 'agent wired it, Neutron answered its report'),
    ('event', 'network-vif-plugged reaches nova-api (Neutron batching)'),
    ('workload_created', 'workload container created (not started)'),
    ('workload_started', 'workload started (after the wait)'),
    ('exec_done', 'first exec in the workload ended (admin password)'),
    ('spawned', 'spawn returned (settle check, password)'),
    ('active', 'the API says ACTIVE (client polls every 0.1 s)'),
)

_OSLO_TIME = re.compile(r'^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+) ')
_OVS_TIME = re.compile(r'^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+)Z')


class Logs(object):
    """The logs to read, each from where it ended when this was made."""

    def __init__(self, paths):
        self._start = {}
        for path in paths:
            try:
                with open(path, 'rb') as f:
                    self._start[path] = f.seek(0, 2)
            except FileNotFoundError:
                self._start[path] = 0

    def lines(self, path):
        try:
            with open(path, 'rb') as f:
                f.seek(self._start[path])
                data = f.read()
        except FileNotFoundError:
            return []
        return data.decode('utf-8', 'replace').splitlines()


class EngineEvents(object):
    """The engine's container events from now on, read as they come: the
    engine keeps only its last 1,024 events, fewer than a busy shared
    engine makes during a run."""

    def __init__(self, engine):
        self.events = []
        self._stream = engine.events(filters={'type': 'container'},
                                     decode=True)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self):
        try:
            for event in self._stream:
                self.events.append(event)
        except Exception:   # noqa: B902 - the stream was closed by stop()
            pass

    def stop(self):
        self._stream.close()
        self._thread.join(5)
        return list(self.events)


def oslo_time(line):
    """Epoch seconds of an oslo.log line (local time), or None."""
    m = _OSLO_TIME.match(line)
    if not m:
        return None
    return time.mktime(time.strptime(m.group(1)[:19], '%Y-%m-%d %H:%M:%S')
                       ) + float('0' + m.group(1)[19:])


def ovs_time(line):
    """Epoch seconds of an ovs-vswitchd log line (UTC), or None."""
    m = _OVS_TIME.match(line)
    if not m:
        return None
    stamp = datetime.datetime.strptime(m.group(1)[:19], '%Y-%m-%dT%H:%M:%S')
    return stamp.replace(tzinfo=datetime.timezone.utc).timestamp() + float(
        '0' + m.group(1)[19:])


def _first(found, sid, milestone, when):
    if when is not None and milestone not in found.setdefault(sid, {}):
        found[sid][milestone] = when


def from_compute_log(lines, sids, found, ports):
    """Claim, plug and spawn milestones; ``ports`` gets each server's port
    id from the driver's "Plugged port <id> as ..." line."""
    alternatives = '|'.join(map(re.escape, sids))
    pattern = re.compile(r'\[instance: (%s)\] (Claim successful|Plugged '
                         r'port (\S+)|Took [\d.]+ seconds to spawn)'
                         % alternatives)
    for line in lines:
        m = pattern.search(line)
        if not m:
            continue
        sid, what = m.group(1), m.group(2)
        if what.startswith('Claim'):
            _first(found, sid, 'claim', oslo_time(line))
        elif what.startswith('Plugged'):
            _first(found, sid, 'plugged', oslo_time(line))
            ports.setdefault(sid, m.group(3))
        else:
            _first(found, sid, 'spawned', oslo_time(line))


def from_api_log(lines, sids, found):
    pattern = re.compile(r'Creating event network-vif-plugged:\S+ for '
                         r'instance (%s)' % '|'.join(map(re.escape, sids)))
    for line in lines:
        m = pattern.search(line)
        if m:
            _first(found, m.group(1), 'event', oslo_time(line))


def from_agent_log(lines, ports, found):
    """The agent names ports, not servers."""
    by_port = {port: sid for sid, port in ports.items()}
    if not by_port:
        return
    alternatives = '|'.join(map(re.escape, by_port))
    handled = re.compile(r'Port (%s) updated\.' % alternatives)
    wired = re.compile(r'Configuration for devices up \[[^\]]*?(%s)'
                       % alternatives)
    for line in lines:
        m = handled.search(line)
        if m:
            _first(found, by_port[m.group(1)], 'agent_port', oslo_time(line))
        m = wired.search(line)
        if m:
            _first(found, by_port[m.group(1)], 'agent_wired',
                   oslo_time(line))


def from_switch_log(lines, ports, found, host_dev):
    by_dev = {host_dev(port): sid for sid, port in ports.items()}
    if not by_dev:
        return
    added = re.compile(r'added interface (%s) on port' % '|'.join(
        map(re.escape, by_dev)))
    for line in lines:
        m = added.search(line)
        if m:
            _first(found, by_dev[m.group(1)], 'switch_port', ovs_time(line))


def from_engine_events(events, sids, found):
    """Create and start of each server's infra and workload container
    (names as nova_docker.naming gives them), and the end of the
    workload's first exec (spawn sets the admin password through one)."""
    names = {}
    for sid in sids:
        names['nova-%s-infra' % sid] = (sid, 'infra')
        names['nova-' + sid] = (sid, 'workload')
    for event in events:
        action = event.get('Action') or ''
        name = event.get('Actor', {}).get('Attributes', {}).get('name')
        if event.get('Type') != 'container' or name not in names:
            continue
        sid, which = names[name]
        if action.startswith('exec_die') and which == 'workload':
            _first(found, sid, 'exec_done', event['timeNano'] / 1e9)
        elif action in ('create', 'start'):
            done = 'created' if event['Action'] == 'create' else 'started'
            _first(found, sid, '%s_%s' % (which, done),
                   event['timeNano'] / 1e9)


def medians(found, boots):
    """{milestone: (median seconds since POST, servers that had it)} over
    ``boots`` ([(sid, posted, active)]), in milestone order."""
    result = {}
    for milestone, _ in MILESTONES:
        offsets = []
        for sid, posted, active in boots:
            when = active if milestone == 'active' else found.get(
                sid, {}).get(milestone)
            if when is not None:
                offsets.append(when - posted)
        if offsets:
            result[milestone] = (statistics.median(offsets), len(offsets))
    return result


def print_table(title, columns):
    """columns: [(heading, medians(...), servers measured)]. A milestone
    found for fewer servers than measured shows how many had it."""
    print()
    print(title)
    fmt = '%-62s' + ' %-18s' * len(columns)
    print(fmt % (('milestone: median seconds since POST, +step',)
                 + tuple(heading for heading, _, _ in columns)))
    last = [0.0] * len(columns)
    # Rows in the order the first column passed them: some steps overlap
    # (the workload is made while the agent wires the port).
    order = dict((m, i) for i, (m, _) in enumerate(MILESTONES))
    rows = sorted(MILESTONES, key=lambda mw: next(
        (values[mw[0]][0] for _, values, _ in columns if mw[0] in values),
        order[mw[0]]))
    for milestone, what in rows:
        cells = []
        for i, (_, values, n) in enumerate(columns):
            if milestone not in values:
                cells.append('-')
                continue
            at, count = values[milestone]
            cells.append('%5.2f  %+5.2f%s' % (
                at, at - last[i], '' if count == n else ' (%d/%d)' % (
                    count, n)))
            last[i] = at
        if any(c != '-' for c in cells):
            print(fmt % ((what,) + tuple(cells)), flush=True)
