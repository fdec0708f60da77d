#!/usr/bin/env python3
"""Run the Autobahn|Testsuite against socketeer and check the report.

Server under test (wstest -m fuzzingclient connects to it):
    run.py server --url ws://127.0.0.1:9001 --cases quick --outdir DIR
    run.py server --server-cmd "target/interop/examples/echo {port}" --cases sample --outdir DIR

Client under test (wstest -m fuzzingserver listens on 127.0.0.1:PORT):
    run.py client --port 9001 --cases quick --outdir DIR -- CLIENT_CMD ARGS...

Re-check an existing report:
    run.py check --outdir DIR --agent socketeer --cases quick

{port}, {url} and {agent} in --server-cmd / CLIENT_CMD are substituted; port 0
picks a free port. Everything listens and connects on loopback only.

Exit codes: 0 pass, 1 the report has failures, 2 usage or harness error,
3 Autobahn not installed (run scripts/autobahn/setup.sh).
Python 3 standard library only. wstest itself runs in the Python 2.7 venv made
by setup.sh, through wstest_local.py.
"""
import argparse
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from urllib.parse import urlsplit

HERE = os.path.dirname(os.path.abspath(__file__))
LAUNCHER = os.path.join(HERE, "wstest_local.py")

QUICK = ["%d.*" % i for i in range(1, 11)]
CASE_SETS = {
    "quick": QUICK,
    "sample": QUICK + ["12.1.*", "13.1.*"],
    "full": ["*"],
}
# Verdicts that pass (NON-STRICT and UNIMPLEMENTED are judged by --strict and
# --require-compression); any other behavior or behaviorClose is a failure.
GOOD_BEHAVIOR = {"OK", "INFORMATIONAL", "NON-STRICT", "UNIMPLEMENTED"}
GOOD_CLOSE = {"OK", "INFORMATIONAL", "NON-STRICT"}
DEFAULT_TIMEOUT = {"quick": 600, "sample": 900, "full": 3600}


class HarnessError(Exception):
    def __init__(self, msg, code=2):
        super().__init__(msg)
        self.code = code


def log(msg):
    print("[autobahn] " + msg, flush=True)


def case_key(case_id):
    return tuple(int(x) for x in case_id.split("."))


def is_loopback(host):
    return host in ("localhost", "::1") or host.startswith("127.")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(host, port):
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


# ---------------------------------------------------------------- processes

def _die_with_parent():
    """Child-side: get SIGTERM if run.py dies (Linux), so nothing leaks."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def spawn(argv, logfile, cwd=None, env=None):
    """Start argv in its own process group, output to logfile."""
    out = open(logfile, "wb")
    try:
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, cwd=cwd, env=env,
                                start_new_session=True, preexec_fn=_die_with_parent)
    except OSError as e:
        raise HarnessError("cannot start %s: %s" % (argv[0], e))
    finally:
        out.close()


def stop(proc, grace=5.0):
    """Stop a process group started by spawn(): SIGTERM, then SIGKILL."""
    if proc is None:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            continue
        # leader gone; make sure the rest of the group is too
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        return
    proc.wait()


def wait_listening(port, proc, what, timeout, logfile):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise HarnessError("%s exited with code %s before listening on 127.0.0.1:%d%s"
                               % (what, proc.returncode, port, tail(logfile)))
        if port_open("127.0.0.1", port):
            return
        time.sleep(0.1)
    raise HarnessError("%s did not listen on 127.0.0.1:%d within %ds%s"
                       % (what, port, timeout, tail(logfile)))


def tail(path, n=25):
    """'' or a newline plus the last n lines of a log, indented."""
    try:
        with open(path, "rb") as f:
            lines = f.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return ""
    if not lines:
        return ""
    return "\n  last lines of %s:\n" % path + "\n".join("    " + x for x in lines[-n:])


class Progress:
    """Counts 'Running test case ID' lines in wstest's log, prints now and then."""

    def __init__(self, logfile, total, every=15.0):
        self.logfile, self.total, self.every = logfile, total, every
        self.pos, self.count, self.last, self.shown = 0, 0, "", -1
        self.next_print = time.monotonic() + every

    def poll(self, force=False):
        try:
            with open(self.logfile, "rb") as f:
                f.seek(self.pos)
                data = f.read()
        except OSError:
            return
        cut = data.rfind(b"\n") + 1
        self.pos += cut
        for line in data[:cut].decode("utf-8", "replace").splitlines():
            if line.startswith("Running test case ID "):
                self.count += 1
                self.last = line.split()[4]
        if (force and self.count != self.shown) or time.monotonic() >= self.next_print:
            self.next_print = time.monotonic() + self.every
            self.shown = self.count
            log("%d/%d cases started%s" % (self.count, self.total,
                                           ", last " + self.last if self.last else ""))


# ---------------------------------------------------------------- wstest

def wstest_python(args):
    if args.venv:
        venv = args.venv
    else:
        cache = os.environ.get("SOCKETEER_CACHE") or os.path.join(
            os.path.expanduser("~"), ".cache", "socketeer")
        venv = os.path.join(cache, "autobahn", "venv27")
    py = os.path.join(venv, "bin", "python")
    if not os.access(py, os.X_OK):
        raise HarnessError("Autobahn|Testsuite venv not found at %s; run scripts/autobahn/setup.sh"
                           % venv, code=3)
    return py


def case_patterns(name):
    if name in CASE_SETS:
        return CASE_SETS[name]
    pats = [p.strip() for p in name.split(",") if p.strip()]
    if not pats:
        raise HarnessError("empty --cases")
    return pats


def write_spec(args, path, extra):
    spec = {
        "outdir": args.outdir,
        "cases": case_patterns(args.cases),
        "exclude-cases": list(args.exclude),
        "exclude-agent-cases": {},
    }
    spec.update(extra)
    with open(path, "w") as f:
        json.dump(spec, f, indent=2)
    return spec


def expected_cases(py, spec_path):
    r = subprocess.run([py, LAUNCHER, "--list-cases", spec_path],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if r.returncode != 0:
        raise HarnessError("cannot resolve the case list: %s" % r.stderr.decode().strip())
    return json.loads(r.stdout)


def prepare_outdir(args):
    args.outdir = os.path.abspath(args.outdir)
    os.makedirs(args.outdir, exist_ok=True)
    for name in ("index.json", "index.html", "summary.json"):
        try:
            os.remove(os.path.join(args.outdir, name))
        except FileNotFoundError:
            pass


def supervise(name, main, progress, deadline, watch=()):
    """Wait for process main to exit; stop early if a watched process dies or time runs out.

    watch: (name, proc, logfile) of processes that must stay alive meanwhile.
    Returns a list of problem strings.
    """
    problems = []
    while main.poll() is None:
        progress.poll()
        for what, proc, logfile in watch:
            if proc.poll() is not None:
                problems.append("%s exited with code %s during the run%s"
                                % (what, proc.returncode, tail(logfile)))
                return problems
        if time.monotonic() > deadline:
            problems.append("timed out (--timeout); %s still running" % name)
            return problems
        time.sleep(0.5)
    progress.poll(force=True)
    return problems


def cmd_server(args):
    py = wstest_python(args)
    u = urlsplit(args.url)
    if u.scheme != "ws" or not u.hostname:
        raise HarnessError("--url must look like ws://127.0.0.1:PORT")
    if not is_loopback(u.hostname):
        raise HarnessError("refusing non-loopback address %s" % u.hostname)
    port = u.port if u.port is not None else 80
    if port == 0 and not args.server_cmd:
        raise HarnessError("port 0 needs --server-cmd (someone has to listen there)")
    if args.server_cmd and port == 0:
        port = free_port()
    host = u.hostname if ":" not in u.hostname else "[%s]" % u.hostname
    url = "ws://%s:%d%s" % (host, port, u.path)

    prepare_outdir(args)
    spec_path = os.path.join(args.outdir, "spec-fuzzingclient.json")
    write_spec(args, spec_path, {"servers": [{"agent": args.agent, "url": url}]})
    expected = expected_cases(py, spec_path)

    server = None
    server_log = os.path.join(args.outdir, "server.log")
    watch = []
    wstest = None
    problems = []
    t0 = time.monotonic()
    try:
        if args.server_cmd:
            if port_open("127.0.0.1", port):
                raise HarnessError("port %d is already in use" % port)
            argv = [a.format(port=port, url=url, agent=args.agent)
                    for a in shlex.split(args.server_cmd)]
            log("starting server: %s" % " ".join(shlex.quote(a) for a in argv))
            server = spawn(argv, server_log)
            wait_listening(port, server, "server", args.startup_timeout, server_log)
            watch.append(("server under test", server, server_log))
        elif not port_open(u.hostname, port):
            raise HarnessError("nothing listens on %s" % url)

        wstest_log = os.path.join(args.outdir, "wstest.log")
        log("wstest fuzzingclient -> %s, %d cases (%s), agent %s, log %s"
            % (url, len(expected), args.cases, args.agent, wstest_log))
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        wstest = spawn([py, LAUNCHER, "-m", "fuzzingclient", "-s", spec_path],
                       wstest_log, cwd=args.outdir, env=env)
        progress = Progress(wstest_log, len(expected))
        problems += supervise("wstest", wstest, progress, t0 + args.timeout, watch)
        if not problems and wstest.returncode != 0:
            problems.append("wstest exited with code %d%s"
                            % (wstest.returncode, tail(wstest_log)))
    finally:
        stop(wstest)
        stop(server)
    elapsed = time.monotonic() - t0
    log("run took %.1fs" % elapsed)
    return check(args, expected, problems, mode="server", elapsed=elapsed)


def cmd_client(args):
    py = wstest_python(args)
    if not args.client_cmd:
        raise HarnessError("client mode needs the client command after --")
    port = args.port or free_port()
    url = "ws://127.0.0.1:%d" % port

    prepare_outdir(args)
    spec_path = os.path.join(args.outdir, "spec-fuzzingserver.json")
    write_spec(args, spec_path, {"url": url, "webport": 0})
    expected = expected_cases(py, spec_path)

    wstest_log = os.path.join(args.outdir, "wstest.log")
    client_log = os.path.join(args.outdir, "client.log")
    wstest = client = None
    problems = []
    t0 = time.monotonic()
    try:
        if port_open("127.0.0.1", port):
            raise HarnessError("port %d is already in use" % port)
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        wstest = spawn([py, LAUNCHER, "-m", "fuzzingserver", "-s", spec_path, "-u", "0"],
                       wstest_log, cwd=args.outdir, env=env)
        wait_listening(port, wstest, "wstest fuzzingserver", args.startup_timeout,
                       wstest_log)

        argv = [a.format(port=port, url=url, agent=args.agent) for a in args.client_cmd]
        log("wstest fuzzingserver on %s, %d cases (%s), log %s"
            % (url, len(expected), args.cases, wstest_log))
        log("starting client: %s (log %s)" % (" ".join(shlex.quote(a) for a in argv), client_log))
        client = spawn(argv, client_log)
        progress = Progress(wstest_log, len(expected))
        # here the client is the one that must finish; wstest must stay up
        problems += supervise("client", client, progress, t0 + args.timeout,
                              [("wstest fuzzingserver", wstest, wstest_log)])
        if not problems and client.returncode != 0:
            problems.append("client exited with code %d%s"
                            % (client.returncode, tail(client_log)))
    finally:
        stop(client)
        stop(wstest)
    elapsed = time.monotonic() - t0
    log("run took %.1fs" % elapsed)
    return check(args, expected, problems, mode="client", elapsed=elapsed)


def cmd_check(args):
    args.outdir = os.path.abspath(args.outdir)
    expected = None
    if args.cases:
        py = wstest_python(args)
        spec_path = os.path.join(args.outdir, "spec-check.json")
        write_spec(args, spec_path, {})
        expected = expected_cases(py, spec_path)
    return check(args, expected, [], mode="check", elapsed=None)


# ---------------------------------------------------------------- checker

def check(args, expected, problems, mode, elapsed):
    """Read index.json, print the summary, write summary.json. Returns exit code."""
    index_path = os.path.join(args.outdir, "index.json")
    results = {}
    try:
        with open(index_path) as f:
            index = json.load(f)
        if args.agent in index:
            results = index[args.agent]
        else:
            problems.append("agent %r not in %s (agents: %s)"
                            % (args.agent, index_path, ", ".join(sorted(index)) or "none"))
    except FileNotFoundError:
        problems.append("no report: %s was not written" % index_path)
    except ValueError as e:
        problems.append("cannot parse %s: %s" % (index_path, e))

    ids = sorted(results, key=case_key)
    behavior, close = {}, {}
    failed, unclean, non_strict, unimpl = [], [], [], []
    for cid in ids:
        r = results[cid]
        b, c = r.get("behavior", "?"), r.get("behaviorClose", "?")
        behavior[b] = behavior.get(b, 0) + 1
        close[c] = close.get(c, 0) + 1
        entry = {"id": cid, "behavior": b, "behaviorClose": c,
                 "remoteCloseCode": r.get("remoteCloseCode"),
                 "duration_ms": r.get("duration"),
                 "report": os.path.join(args.outdir, r.get("reportfile", ""))}
        if c == "UNCLEAN":
            unclean.append(entry)
        elif b not in GOOD_BEHAVIOR or c not in GOOD_CLOSE:
            failed.append(entry)  # FAILED, WRONG CODE, FAILED BY CLIENT, anything unknown
        if b == "NON-STRICT" or c == "NON-STRICT":
            non_strict.append(entry)
        if b == "UNIMPLEMENTED":
            unimpl.append(entry)
    missing = [c for c in (expected or []) if c not in results]
    unexpected = [c for c in ids if expected is not None and c not in expected]

    strict = args.strict if args.strict is not None else (mode == "server")
    errors = list(problems)
    if failed:
        errors.append("%d FAILED" % len(failed))
    if unclean:
        errors.append("%d UNCLEAN close" % len(unclean))
    if non_strict and strict:
        errors.append("%d NON-STRICT (strict mode)" % len(non_strict))
    if unimpl and args.require_compression:
        errors.append("%d UNIMPLEMENTED (permessage-deflate not negotiated)" % len(unimpl))
    if missing:
        errors.append("%d expected cases missing from the report" % len(missing))
    if unexpected:
        errors.append("%d unexpected cases in the report" % len(unexpected))

    # ---- print
    print()
    print("Autobahn report %s" % index_path)
    print("agent %s, mode %s, cases %s: %d reported%s" % (
        args.agent, mode, args.cases, len(ids),
        "" if expected is None else " of %d expected" % len(expected)))
    width = max([len(k) for k in list(behavior) + list(close)] + [13])
    print("  %-*s %6s" % (width, "behavior", "count"))
    for k in sorted(behavior):
        print("  %-*s %6d" % (width, k, behavior[k]))
    print("  %-*s %6s" % (width, "behaviorClose", "count"))
    for k in sorted(close):
        print("  %-*s %6d" % (width, k, close[k]))

    def show(title, entries, limit=None):
        if not entries:
            return
        print("%s (%d):" % (title, len(entries)))
        for e in entries[:limit]:
            print("  %-8s behavior=%-13s close=%-13s code=%-5s %s" % (
                e["id"], e["behavior"], e["behaviorClose"], e["remoteCloseCode"],
                os.path.relpath(e["report"])))
        if limit and len(entries) > limit:
            print("  ... and %d more (see summary.json)" % (len(entries) - limit))

    show("FAILED", failed)
    show("UNCLEAN", unclean)
    show("NON-STRICT" + ("" if strict else " (accepted)"), non_strict)
    show("UNIMPLEMENTED" + ("" if args.require_compression else " (accepted)"), unimpl, 20)
    for title, lst in (("MISSING", missing), ("UNEXPECTED", unexpected)):
        if lst:
            more = " ..." if len(lst) > 30 else ""
            print("%s (%d): %s%s" % (title, len(lst), " ".join(lst[:30]), more))
    for p in problems:
        print("PROBLEM: " + p)
    ok = not errors
    print("RESULT: %s%s" % ("PASS" if ok else "FAIL", "" if ok else " (" + "; ".join(
        e.splitlines()[0] for e in errors) + ")"))

    summary = {
        "ok": ok, "mode": mode, "agent": args.agent, "cases": args.cases,
        "expected": None if expected is None else len(expected), "reported": len(ids),
        "strict": strict, "require_compression": args.require_compression,
        "elapsed_s": None if elapsed is None else round(elapsed, 1),
        "behavior": behavior, "behaviorClose": close, "errors": errors,
        "failed": failed, "unclean": unclean, "non_strict": non_strict,
        "unimplemented": [e["id"] for e in unimpl],
        "missing": missing, "unexpected": unexpected,
    }
    with open(os.path.join(args.outdir, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    return 0 if ok else 1


# ---------------------------------------------------------------- main

def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n", 1)[1])
    sub = p.add_subparsers(dest="mode", required=True)
    modes = {
        "server": sub.add_parser("server", help="test a WebSocket server"),
        "client": sub.add_parser("client", help="test a WebSocket client"),
        "check": sub.add_parser("check", help="re-check an existing report"),
    }
    for name, sp in modes.items():
        sp.add_argument("--outdir", required=True, help="report directory")
        sp.add_argument("--agent", default="socketeer", help="agent name in the report")
        sp.add_argument("--cases", default=None if name == "check" else "quick",
                        help="quick (1-10), sample (quick + 12.1 + 13.1), full, "
                             "or comma-separated case patterns like 7.*,9.1.1")
        sp.add_argument("--exclude", action="append", default=[], metavar="PATTERN",
                        help="case pattern to exclude (repeatable; default none)")
        sp.add_argument("--strict", action=argparse.BooleanOptionalAction, default=None,
                        help="NON-STRICT fails the run (default: on for server, off for client)")
        sp.add_argument("--require-compression", action=argparse.BooleanOptionalAction,
                        default=True, help="UNIMPLEMENTED (no permessage-deflate) fails the run")
        sp.add_argument("--venv", help="Autobahn Python 2.7 venv (default: "
                        "${SOCKETEER_CACHE:-~/.cache/socketeer}/autobahn/venv27)")
        if name != "check":
            sp.add_argument("--timeout", type=float, help="overall limit in seconds")
            sp.add_argument("--startup-timeout", type=float, default=30.0,
                            help="seconds to wait for a listening port")
    modes["server"].add_argument("--url", default="ws://127.0.0.1:0",
                                 help="server under test (loopback); port 0 with --server-cmd "
                                      "picks a free port")
    modes["server"].add_argument("--server-cmd", help="start the server: command line, "
                                 "{port} substituted; stopped after the run")
    modes["client"].add_argument("--port", type=int, default=9001,
                                 help="fuzzingserver port on 127.0.0.1 (0: pick a free one)")
    modes["client"].add_argument("client_cmd", nargs=argparse.REMAINDER,
                                 help="-- CLIENT_CMD ARGS... ({port}, {url}, {agent} substituted)")
    args = p.parse_args(argv)
    if args.mode == "client" and args.client_cmd[:1] == ["--"]:
        args.client_cmd = args.client_cmd[1:]
    if args.mode != "check" and args.timeout is None:
        args.timeout = DEFAULT_TIMEOUT.get(args.cases, 3600)
    return args


def main(argv=None):
    args = parse_args(argv)

    def on_signal(signum, _frame):
        raise SystemExit(128 + signum)  # unwinds through the finally blocks that stop children

    for s in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, on_signal)
    try:
        return {"server": cmd_server, "client": cmd_client, "check": cmd_check}[args.mode](args)
    except HarnessError as e:
        print("[autobahn] error: %s" % e, file=sys.stderr, flush=True)
        return e.code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
