"""Run a model-written Python function in a separate, limited process — never in ours.

`run_function(source, "step", arg)` starts `python -I -S` in an empty temporary directory with
a minimal environment, hands it the source and the argument as JSON on stdin, and reads back the
function's JSON result. Whatever the program does, the caller gets a `SandboxResult`: a value,
or one line saying why there is none (it raised, ran out of CPU time or memory, printed too
much, returned something that is not JSON, was killed). Nothing here raises for a bad program.

The layers, outermost first (docs/checkers.md says what each one stops):

- process: a child of its own session, killed with its whole process group at a wall-clock
  limit; stdout and stderr go to unnamed files, of which at most `output_bytes` are read back.
- kernel limits (`resource.setrlimit` in the child, before the program is even read): CPU
  seconds, address space, size of any file written (which also caps stdout), open files,
  processes (no fork: RLIMIT_NPROC = 0), no core dumps.
- identity: run as root, the child drops to the `nobody` user (so RLIMIT_NPROC holds, and the
  project's files are only as readable as to any stranger); the child gets a fresh network
  namespace when the kernel allows it (no interface but a downed loopback).
- the interpreter: isolated mode (`-I -S`: no site-packages, no user site, no PYTHON*
  variables, the script's directory not on sys.path), and an audit hook, installed before the
  program is compiled, that refuses sockets, subprocesses, fork/exec, ctypes, and any file
  access outside the working directory except reading the standard library.

The audit hook is a second layer, not a boundary on its own; the kernel limits and the
unprivileged identity are what hold against a determined program.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["SandboxLimits", "SandboxResult", "run_function"]

Outcome = Literal["ok", "error", "timeout", "memory", "output", "invalid", "killed"]

MAX_SOURCE_CHARS = 100_000  # a "small function": longer sources are refused unrun


class SandboxLimits(BaseModel):
    """What one run may use. The defaults suit a step function over a small state."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cpu_s: int = Field(2, ge=1, le=60, description="CPU seconds (the kernel stops the process)")
    wall_s: float = Field(10.0, gt=0, le=300, description="wall-clock seconds before the process group is killed")
    memory_mb: int = Field(256, ge=64, le=8192, description="address space, MiB")
    output_bytes: int = Field(64_000, ge=1_000, le=10_000_000, description="largest file the process may write (stdout included)")
    open_files: int = Field(32, ge=8, le=1024, description="file descriptors")


class SandboxResult(BaseModel):
    """One run: the returned value (JSON) when `outcome` is ok, else one line in `error`."""

    outcome: Outcome
    value: Any = None
    error: str | None = None
    output: str = Field("", description="what the program printed (stdout and stderr, cut)")
    wall_s: float = 0.0
    isolation: list[str] = Field(default_factory=list, description="the layers the child reported in place")

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"


# The child's first code, trusted: limits, identity, network, audit hook — then the program.
# It reads one JSON request on stdin and writes one JSON line to its stdout (fd 1) at the end.
_BOOT = r'''
import json, os, resource, sys
req = json.loads(sys.stdin.read())
lim = req["limits"]
layers = []
try:
    import ctypes
    _libc = ctypes.CDLL(None, use_errno=True)
    if _libc.unshare(0x40000000 | (0 if os.geteuid() == 0 else 0x10000000)) == 0:  # CLONE_NEWNET (+ NEWUSER)
        layers.append("network namespace")
    del _libc
except Exception:
    pass
for _m in [m for m in sys.modules if m == "ctypes" or m.startswith(("ctypes.", "_ctypes"))]:
    del sys.modules[_m]
# The usual helpers, loaded while the standard library is surely readable (the `nobody` user may
# not be able to read an interpreter installed under a private home directory).
import bisect, collections, copy, functools, heapq, itertools, math, operator, re, string
if os.geteuid() == 0 and req["uid"] is not None:
    os.setgroups([])
    os.setgid(req["gid"])
    os.setuid(req["uid"])
    layers.append("unprivileged user")
_R = resource
_R.setrlimit(_R.RLIMIT_CPU, (lim["cpu_s"], lim["cpu_s"] + 1))
_R.setrlimit(_R.RLIMIT_AS, (lim["memory_mb"] << 20, lim["memory_mb"] << 20))
_R.setrlimit(_R.RLIMIT_FSIZE, (lim["output_bytes"], lim["output_bytes"]))
_R.setrlimit(_R.RLIMIT_NOFILE, (lim["open_files"], lim["open_files"]))
_R.setrlimit(_R.RLIMIT_NPROC, (0, 0))
_R.setrlimit(_R.RLIMIT_CORE, (0, 0))
layers.append("rlimits")
WORK = os.path.realpath(os.getcwd())
STDLIB = os.path.realpath(os.path.dirname(os.__file__))
_PACKAGES = (os.path.join(STDLIB, "site-packages"), os.path.join(STDLIB, "dist-packages"))
_NO = ("socket.", "subprocess.", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork",
       "os.forkpty", "os.kill", "os.killpg", "os.chdir", "os.chroot", "ctypes.", "code.__new__",
       "gc.get_", "signal.pthread_kill", "webbrowser.", "urllib.", "http.", "ftplib.", "smtplib.",
       "imaplib.", "poplib.", "nntplib.", "telnetlib.", "sys.remote_exec", "pty.")
_PATH_EVENTS = ("os.listdir", "os.scandir", "os.remove", "os.rename", "os.rmdir", "os.mkdir", "os.truncate",
                "os.chmod", "os.chown", "os.link", "os.symlink", "os.utime", "os.setxattr", "os.removexattr",
                "os.listxattr", "os.getxattr", "shutil.", "glob.glob", "tempfile.mkstemp", "tempfile.mkdtemp")
_MODULES = {"socket", "_socket", "ssl", "_ssl", "subprocess", "_posixsubprocess", "multiprocessing",
            "_multiprocessing", "ctypes", "_ctypes", "pty", "select", "selectors", "asyncio", "mmap",
            "fcntl", "termios", "resource", "signal", "_signal", "urllib", "http", "ftplib", "smtplib"}
_realpath, _join, _fspath, _sep = os.path.realpath, os.path.join, os.fspath, os.sep
_W = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND

def _inside(path, root):
    return path == root or path.startswith(root + _sep)

def _where(p):
    if isinstance(p, bytes):
        p = p.decode("utf-8", "replace")
    return _realpath(_join(WORK, p))

def _hook(event, args):
    if event == "open":
        path, mode, flags = (tuple(args) + (None, None, None))[:3]
        if path is None or isinstance(path, int):
            return  # an fd already open (stdin, stdout)
        where = _where(_fspath(path))
        writes = bool(mode and any(c in mode for c in "wax+")) or bool((flags or 0) & _W)
        if _inside(where, WORK):
            return
        if not writes and _inside(where, STDLIB) and not any(_inside(where, d) for d in _PACKAGES):
            return
        raise PermissionError(f"sandbox: no access to {where}")
    if event == "import":
        if str(args[0]).split(".")[0] in _MODULES:
            raise ImportError(f"sandbox: module {args[0]} is not available")
        return
    if event.startswith(_NO):
        raise PermissionError(f"sandbox: {event} is not allowed")
    if event.startswith(_PATH_EVENTS):
        for a in args:
            if isinstance(a, (str, bytes)) or hasattr(a, "__fspath__"):
                if not _inside(_where(_fspath(a)), WORK):
                    raise PermissionError(f"sandbox: {event} outside the working directory")

sys.addaudithook(_hook)
layers.append("audit hook")
_out = os.fdopen(os.dup(1), "w")
sys.stdout = sys.stderr  # the program's prints go to stderr; fd 1 carries the result
def _result(d):
    _out.write(json.dumps(d) + "\n")
    _out.flush()
try:
    ns = {"__name__": "program"}
    exec(compile(req["source"], "<program>", "exec"), ns)
    fn = ns.get(req["function"])
    if not callable(fn):
        raise NameError(f"the program defines no function {req['function']}()")
    value = fn(req["arg"])
    try:
        text = json.dumps(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"the function returned {type(value).__name__}, which is not JSON: {exc}") from None
    if len(text) > lim["output_bytes"] // 2:
        raise OSError(27, "its result is larger than the output limit")
    _result({"ok": True, "value": value, "layers": layers})
except MemoryError:
    _result({"ok": False, "kind": "memory", "error": "ran out of memory", "layers": layers})
except OSError as exc:
    if exc.errno != 27:  # EFBIG: a write past RLIMIT_FSIZE (Python ignores SIGXFSZ)
        _result({"ok": False, "kind": "error", "error": f"{type(exc).__name__}: {exc}", "layers": layers})
    else:
        _result({"ok": False, "kind": "output", "error": "wrote more than its output limit", "layers": layers})
except BaseException as exc:
    _result({"ok": False, "kind": "error", "error": f"{type(exc).__name__}: {exc}", "layers": layers})
'''

_SIGNALS = {
    signal.SIGXCPU: ("timeout", "used up its CPU time"),
    signal.SIGXFSZ: ("output", "wrote more than its output limit"),
}


def _nobody() -> tuple[int | None, int | None]:
    """The unprivileged identity a root parent hands the child (None when we are not root)."""
    if os.geteuid() != 0:
        return None, None
    try:
        import pwd

        pw = pwd.getpwnam("nobody")
        return pw.pw_uid, pw.pw_gid
    except (ImportError, KeyError):
        return 65534, 65534


def _one_line(text: str, limit: int = 300) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _read(f, limit: int) -> str:
    f.seek(0)
    return f.read(limit).decode("utf-8", "replace")


def run_function(source: str, function: str, arg: Any, limits: SandboxLimits | None = None) -> SandboxResult:
    """Define `source` in a sandboxed process, call `function(arg)` there, return its JSON value.

    `arg` must be JSON. The process gets an empty temporary directory as its working directory
    (removed afterwards), no environment beyond PATH, and the limits of `limits`.
    """
    lim = limits or SandboxLimits()
    if len(source) > MAX_SOURCE_CHARS:
        return SandboxResult(outcome="invalid", error=f"the program is longer than {MAX_SOURCE_CHARS} characters")
    uid, gid = _nobody()
    request = json.dumps(
        {"source": source, "function": function, "arg": arg, "limits": lim.model_dump(), "uid": uid, "gid": gid}
    ).encode()
    started = time.perf_counter()
    root = tempfile.mkdtemp(prefix="agentloop-sandbox-")
    work = os.path.join(root, "work")
    os.mkdir(work, 0o700)
    os.chmod(root, 0o711)  # the child may pass through to its directory, not list ours
    if uid is not None:
        os.chown(work, uid, gid if gid is not None else -1)
    try:
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            proc = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", _BOOT],
                stdin=subprocess.PIPE, stdout=out, stderr=err, cwd=work,
                env={"PATH": os.defpath, "LC_ALL": "C.UTF-8"}, close_fds=True, start_new_session=True,
            )
            killed = False
            try:
                proc.communicate(request, timeout=lim.wall_s)
            except subprocess.TimeoutExpired:
                killed = True
            finally:
                _kill_group(proc)
            wall = time.perf_counter() - started
            printed = _read(err, min(lim.output_bytes, 4000))
            return _result(proc.returncode, _read(out, lim.output_bytes + 1), printed, wall, killed, lim)
    finally:
        import shutil

        shutil.rmtree(root, ignore_errors=True)


def _kill_group(proc: subprocess.Popen) -> None:
    """Kill the child and anything it managed to start, then reap it."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def _result(rc: int, stdout: str, printed: str, wall: float, killed: bool, lim: SandboxLimits) -> SandboxResult:
    def fail(outcome: Outcome, why: str, layers: list[str] | None = None) -> SandboxResult:
        return SandboxResult(outcome=outcome, error=why, output=printed, wall_s=wall, isolation=layers or [])

    if killed:
        return fail("timeout", f"still running after {lim.wall_s:g} s (wall clock); killed")
    lines = stdout.strip().splitlines()
    try:
        last = json.loads(lines[-1]) if lines else None
    except ValueError:
        last = None
    if rc < 0:
        sig = signal.Signals(-rc) if -rc in signal.Signals._value2member_map_ else None
        if sig in _SIGNALS:
            outcome, why = _SIGNALS[sig]
            limit = f"{lim.cpu_s} s" if outcome == "timeout" else f"{lim.output_bytes} bytes"
            return fail(outcome, f"{why} ({limit}); stopped by the kernel")
        return fail("killed", f"died of signal {sig.name if sig else -rc}")
    if not isinstance(last, dict) or "ok" not in last:
        why = "wrote no result" if not lines else "its result line is not the sandbox's JSON"
        if len(stdout) >= lim.output_bytes:
            return fail("output", f"wrote more than its output limit ({lim.output_bytes} bytes)")
        tail = _one_line(printed[-300:]) if printed.strip() else ""
        return fail("invalid", f"the process exited with code {rc} and {why}" + (f": {tail}" if tail else ""))
    layers = [str(x) for x in last.get("layers", [])]
    if last["ok"]:
        return SandboxResult(outcome="ok", value=last.get("value"), output=printed, wall_s=wall, isolation=layers)
    kind = last.get("kind")
    outcome: Outcome = kind if kind in ("memory", "output") else "error"
    why = str(last.get("error", "failed"))
    if outcome == "output":
        why = f"{why} ({lim.output_bytes} bytes)"
    return fail(outcome, _one_line(why), layers)
