"""The local Ray cluster a driver started goes when the driver goes, however it goes.

``ray.init()`` without an address starts a head node (GCS server, raylet, dashboard, log monitor,
and the raylet's agents and workers) as the driver's children. A clean exit, Ctrl-C or SIGTERM shuts
it down (``ray.shutdown()`` in the executor, Ray's own atexit hook); ``kill -9`` of the driver, or a
signal nobody handles, leaves every one of those processes running. So the driver also starts a
small watcher (this file, run as a script: standard library only, no prunebench import) in its own
session. It holds the read end of a pipe whose write end only the driver has, and records, once a
second, the head processes and everything below them (the head processes die with the driver, the
raylet's agents do not, and lose their parent). When the pipe closes (the driver shut Ray down, or
died), it kills every recorded process still alive, checking each one's start time first so that a
reused pid is never touched.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from typing import Any


def _start_time(pid: int) -> str | None:
    """Field 22 of /proc/PID/stat (start time in clock ticks): a process's identity with its pid."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            stat = fh.read()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        tree.setdefault(ppid, []).append(int(entry))
    return tree


def descendants(pids: list[int]) -> list[int]:
    """``pids`` and every process below them, parents first."""
    tree, out, todo = _children(), [], list(pids)
    while todo:
        pid = todo.pop(0)
        if pid in out:
            continue
        out.append(pid)
        todo.extend(tree.get(pid, []))
    return out


def kill_tree(recorded: dict[int, str], grace: float = 3.0) -> list[int]:
    """SIGTERM, then after ``grace`` seconds SIGKILL, every still-living recorded process (same pid
    and start time) and its descendants. Returns the pids signalled."""
    alive = [pid for pid, start in recorded.items() if _start_time(pid) == start]
    targets = [(pid, _start_time(pid)) for pid in descendants(alive)]
    targets = [(pid, start) for pid, start in targets if start is not None and pid != os.getpid()]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid, start in targets:
            if _start_time(pid) == start:
                try:
                    os.kill(pid, sig)
                except OSError:
                    pass
        deadline = time.monotonic() + (grace if sig == signal.SIGTERM else 0)
        while time.monotonic() < deadline and any(_start_time(p) == s for p, s in targets):
            time.sleep(0.1)
    return [pid for pid, _ in targets]


def head_processes(ray: Any) -> list[int]:
    """The pids of the processes of the head node this driver started."""
    node = getattr(getattr(ray, "_private", None), "worker", None)
    node = getattr(node, "_global_node", None)
    procs = getattr(node, "all_processes", None) or {}
    return sorted({info.process.pid for infos in procs.values() for info in infos if getattr(info, "process", None)})


#: The write end of the watcher's pipe (closing it tells the watcher to clean up now).
_WATCH: dict[str, Any] = {}


def watch_local_cluster(ray: Any) -> subprocess.Popen | None:
    """Start the watcher of the head node this driver just started (Linux; elsewhere nothing)."""
    if not os.path.isdir("/proc"):
        return None
    pids = head_processes(ray)
    recorded = {pid: _start_time(pid) for pid in pids}
    recorded = {pid: start for pid, start in recorded.items() if start is not None}
    if not recorded:
        return None
    read, write = os.pipe()
    proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), json.dumps(recorded)], stdin=read,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                            close_fds=True)
    os.close(read)
    os.set_inheritable(write, False)  # pool workers, Ray's own children: none may keep the pipe open
    release()
    _WATCH.update(fd=write, proc=proc)
    return proc


def release() -> None:
    """Tell the watcher the cluster is shut down: it kills what is left and exits."""
    fd = _WATCH.pop("fd", None)
    proc = _WATCH.pop("proc", None)
    if fd is not None:
        os.close(fd)
    if proc is not None:
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            pass


def _main(argv: list[str]) -> int:
    import select

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the terminal's Ctrl-C is the driver's business
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    recorded = {int(pid): start for pid, start in json.loads(argv[1]).items()}
    while True:  # until the driver closes the pipe or dies
        # The head processes die with the driver (Ray ties them to it), but the raylet's agents and
        # workers do not, and once the raylet is gone nothing links them to it: so the tree is
        # recorded while it is there, once a second.
        alive = [pid for pid, start in recorded.items() if _start_time(pid) == start]
        for pid in descendants(alive):
            if pid not in recorded and pid != os.getpid():
                start = _start_time(pid)
                if start is not None:
                    recorded[pid] = start
        try:
            ready, _, _ = select.select([0], [], [], 1.0)
            if ready and not os.read(0, 4096):
                break
        except InterruptedError:
            continue
        except OSError:
            break
    kill_tree(recorded)
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv))
