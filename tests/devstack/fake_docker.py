"""A stand-in for the docker CLI, over a JSON state file ($STUB_DOCKER_STATE):
just the commands the plugin runs, with the engine's filter semantics."""

import json
import os
import sys
import uuid


def load():
    with open(os.environ['STUB_DOCKER_STATE']) as f:
        return json.load(f)


def save(state):
    with open(os.environ['STUB_DOCKER_STATE'], 'w') as f:
        json.dump(state, f)


def options(args):
    """Split ['--filter', 'a', '--format', 'b', 'x'] into options, rest."""
    opts, rest = {}, []
    it = iter(args)
    for arg in it:
        if arg in ('--filter', '--format', '--change', '-o'):
            opts.setdefault(arg, []).append(next(it))
        elif arg.startswith('-') and arg != '-':
            opts.setdefault(arg, []).append(True)
        else:
            rest.append(arg)
    return opts, rest


def label_match(container, spec):
    key, _, value = spec.partition('=')
    labels = container['labels']
    return key in labels and (not value or labels[key] == value)


def main(argv):
    state = load()
    command, args = argv[0], argv[1:]
    if command == 'version':
        return 0 if state.get('running', True) else 1
    opts, rest = options(args)
    if command == 'ps':
        for c in state['containers']:
            filters = opts.get('--filter', [])
            if all(label_match(c, f[len('label='):]) for f in filters
                   if f.startswith('label=')):
                line = opts.get('--format', ['{{.ID}}'])[0]
                print(line.replace('{{.ID}}', c['id'])
                      .replace('{{.Names}}', c['name']))
        return 0
    if command == 'rm':
        state['containers'] = [c for c in state['containers']
                               if c['id'] not in rest]
        save(state)
        return 0
    if command == 'images':
        for ref in state['images']:
            print(ref)
        return 0
    if command == 'image' and rest[0] == 'inspect':
        return 0 if rest[1] in state['images'] else 1
    if command == 'rmi':
        state['images'] = [i for i in state['images'] if i not in rest]
        save(state)
        return 0
    if command == 'import':
        data = sys.stdin.buffer.read()
        state['images'].append(rest[-1])
        state.setdefault('imported', []).append(
            {'ref': rest[-1], 'changes': opts.get('--change', []),
             'bytes': len(data)})
        save(state)
        return 0
    if command == 'save':
        if rest[0] not in state['images']:
            return 1
        sys.stdout.write('archive of %s %s\n' % (rest[0], uuid.uuid4()))
        return 0
    print('fake docker: unsupported %s' % argv, file=sys.stderr)
    return 2


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
