"""iniset/iniget for the devstack stand-ins: real ini files.

    ini.py set FILE SECTION OPTION VALUE
    ini.py get FILE SECTION OPTION      (prints the value, or nothing)
"""

import configparser
import os
import sys


def _load(path):
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str
    if os.path.exists(path):
        parser.read(path)
    return parser


def main(argv):
    command, path, section, option = argv[:4]
    parser = _load(path)
    if command == 'get':
        if parser.has_option(section, option):
            print(parser.get(section, option))
        return 0
    if command == 'set':
        if section != 'DEFAULT' and not parser.has_section(section):
            parser.add_section(section)
        parser.set(section, option, argv[4])
        with open(path, 'w') as f:
            parser.write(f)
        return 0
    print('unknown command %s' % command, file=sys.stderr)
    return 2


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
