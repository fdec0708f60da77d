# -*- coding: utf-8 -*-
"""Run Autobahn|Testsuite's wstest with every listening socket on loopback.

Python 2.7 (run it with the autobahn venv's python):

    venv27/bin/python wstest_local.py -m fuzzingserver -s spec.json -u 0

wstest binds its sockets (the fuzzing server, the report web server) to all
interfaces. This wrapper patches the Twisted reactor's listenTCP/listenSSL so
that an unspecified interface ('', '0.0.0.0', '::') becomes 127.0.0.1 and any
other non-loopback interface is refused, then hands over to wstest's main.

    venv27/bin/python wstest_local.py --list-cases spec.json

prints, as JSON, the case ids that the spec's "cases"/"exclude-cases" select
(without starting anything).
"""
import sys
import warnings

warnings.filterwarnings('ignore', message='Python 2 is no longer supported')

import autobahntestsuite.choosereactor  # noqa: F401  installs the epoll reactor, as wstest does
from twisted.internet import reactor

LOOPBACK = '127.0.0.1'
ANY = ('', '0.0.0.0', '::', None)


def _loopback(interface):
    if interface in ANY:
        return LOOPBACK
    if interface.startswith('127.') or interface in ('::1', 'localhost'):
        return interface
    raise RuntimeError('wstest_local: refusing to listen on non-loopback '
                       'interface %r' % (interface,))


def _patch(name, port_args):
    orig = getattr(reactor, name)

    def listen(*args, **kwargs):
        # positional layout: (port, factory, [contextFactory,] backlog, interface)
        args = list(args)
        if len(args) > port_args + 1:
            args[port_args + 1] = _loopback(args[port_args + 1])
        else:
            kwargs['interface'] = _loopback(kwargs.get('interface', ''))
        return orig(*args, **kwargs)

    setattr(reactor, name, listen)


_patch('listenTCP', 2)   # listenTCP(port, factory, backlog, interface)
_patch('listenSSL', 3)   # listenSSL(port, factory, contextFactory, backlog, interface)


def list_cases(spec_path):
    import json
    from autobahntestsuite.case import (Cases, CaseCategories, CaseSubCategories,
                                        CaseSetname, CaseBasename)
    from autobahntestsuite.caseset import CaseSet
    with open(spec_path) as f:
        spec = json.load(f)
    cs = CaseSet(CaseSetname, CaseBasename, Cases, CaseCategories, CaseSubCategories)
    ids = cs.parseSpecCases(spec)
    unknown = [c for c in ids if c not in cs.CasesById]
    if unknown:
        sys.stderr.write('wstest_local: unknown case ids: %s\n' % ', '.join(unknown))
        return 2
    print(json.dumps(ids))
    return 0


if __name__ == '__main__':
    if len(sys.argv) == 3 and sys.argv[1] == '--list-cases':
        sys.exit(list_cases(sys.argv[2]))
    from autobahntestsuite.wstest import run
    sys.argv[0] = 'wstest'
    sys.exit(run())
