"""A fingerprint of the data a run read: the files its loader read (names, sizes, a sampled content
hash), the folders it listed (a hash of their entries), and a hash of the tensors it returned.

``load_data`` records one per call (``recording``); a study worker collects those of its run
(``collect``) into the run's provenance, and a resumed study re-checks the files of its finished runs
against what is on disk now (``recheck``), so a changed ``data_dir`` cannot silently reuse results
computed on other data.

Which files a loader read is observed, not declared: an audit hook (``sys.addaudithook``, installed on
first use, idle outside a recording) sees every file opened for reading and every folder listed while
the loader runs; those under the spec's ``data_dir`` or the cache directory are kept (what an import
or a library's own cache reads meanwhile is not the data). A loader that consults files it does not
open (a decoded cache keyed by their names) calls :func:`note_read` for them (kept wherever they
are), and :func:`ignore` for its own derived cache.

Names are recorded relative to their root: ``data_dir`` (the spec's; moving the same files elsewhere
keeps the fingerprint), ``cache`` (the cache directory) or an absolute path. Content is hashed from
three 64 KiB samples of each file (start, middle, end; all of a file up to 192 KiB) while a data set
has at most ``HASHED_FILES`` files; a larger one (an image folder) is fingerprinted by names and
sizes, its loaded tensors by their hash.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import sys
import threading
from pathlib import Path
from typing import Any, Iterator

#: Files whose content is sampled into the fingerprint (more: names and sizes only).
HASHED_FILES = 1000
_BLOCK = 64 * 1024

_lock = threading.Lock()
_active: list["_Recorder"] = []
_collectors: list[list[dict[str, Any]]] = []
_hooked = False
_SKIP_PREFIXES = ("/proc/", "/sys/", "/dev/")


class _Recorder:
    def __init__(self) -> None:
        self.files: dict[str, None] = {}
        self.dirs: dict[str, None] = {}
        self.ignored: set[str] = set()
        self.noted: dict[str, None] = {}
        self.skipped: dict[str, int] = {}


def _hook(event: str, args: tuple) -> None:
    if not _active:
        return
    if event == "open":
        path, mode, flags = (tuple(args) + (None, None))[:3]
        if isinstance(mode, str):
            if any(c in mode for c in "wax+"):
                return
        elif isinstance(flags, int) and flags & os.O_ACCMODE != os.O_RDONLY:
            return
        where = _as_path(path)
        if where is not None:
            for rec in _active:
                rec.files.setdefault(where, None)
    elif event in ("os.listdir", "os.scandir"):
        where = _as_path(args[0] if args else ".")
        if where is not None:
            for rec in _active:
                rec.dirs.setdefault(where, None)


def _as_path(path: Any) -> str | None:
    if path is None or isinstance(path, int):
        return None
    try:
        text = os.fsdecode(os.fspath(path))
    except TypeError:
        return None
    text = os.path.abspath(text)
    if text.startswith(_SKIP_PREFIXES) or text.endswith((".py", ".pyc", ".so")):
        return None
    if any(text.startswith(p + os.sep) for p in _python_prefixes()):
        return None
    return text


def _python_prefixes() -> tuple[str, ...]:
    here = str(Path(__file__).resolve().parents[1])  # the prunebench package
    return tuple({os.path.abspath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, here)})


def note_read(path: str | Path) -> None:
    """A file the running loader's data come from although it did not open it now (a cache hit)."""
    for rec in _active:
        rec.noted.setdefault(os.path.abspath(path), None)


def note_skipped(count: int, why: str) -> None:
    """Files the running loader skipped (recorded with the fingerprint: ``skipped``)."""
    for rec in _active:
        rec.skipped[why] = rec.skipped.get(why, 0) + count


def ignore(path: str | Path) -> None:
    """A file the running loader derived itself (its own cache): not part of the fingerprint."""
    for rec in _active:
        rec.ignored.add(os.path.abspath(path))


@contextlib.contextmanager
def recording(spec: Any) -> Iterator["_Result"]:
    """Record what a loader reads while the block runs; ``result.finish(raw)`` then fingerprints it."""
    global _hooked
    with _lock:
        if not _hooked:
            sys.addaudithook(_hook)
            _hooked = True
    rec = _Recorder()
    _active.append(rec)
    result = _Result(spec, rec)
    try:
        yield result
    finally:
        _active.remove(rec)


class _Result:
    def __init__(self, spec: Any, rec: _Recorder) -> None:
        self.spec, self.rec = spec, rec
        self.fingerprint: dict[str, Any] | None = None

    def finish(self, raw: Any) -> dict[str, Any]:
        """The fingerprint of what was read and of the tensors ``raw`` holds (call before anything
        changes them); handed to every collector that is open."""
        roots = [root for _, root in _roots(getattr(self.spec, "data_dir", None))]
        data_root = roots[:1] if getattr(self.spec, "data_dir", None) else []
        files = [f for f in {**{f: None for f in self.rec.files if _under(f, roots)}, **self.rec.noted}
                 if f not in self.rec.ignored and os.path.isfile(f)]
        dirs = [d for d in self.rec.dirs if _under(d, data_root, inclusive=True) and os.path.isdir(d)]
        fp = fingerprint(self.spec, files, dirs, tensor_digest(raw))
        if self.rec.skipped:
            fp["skipped"] = dict(self.rec.skipped)
        self.fingerprint = fp
        for got in _collectors:
            got.append(fp)
        return fp


@contextlib.contextmanager
def collect() -> Iterator[list[dict[str, Any]]]:
    """Every fingerprint ``load_data`` makes in this process while the block runs."""
    got: list[dict[str, Any]] = []
    _collectors.append(got)
    try:
        yield got
    finally:
        _collectors.remove(got)


def tensor_digest(raw: Any) -> str:
    h = hashlib.blake2b(digest_size=16)
    for name in ("train_x", "train_y", "test_x", "test_y"):
        t = getattr(raw, name).contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)};".encode())
        h.update(t.numpy().tobytes() if t.numel() < 1 << 16 else memoryview(t.numpy()).cast("B"))
    return h.hexdigest()


def _roots(data_dir: str | None) -> list[tuple[str, Path]]:
    from .base import cache_dir

    roots = []
    if data_dir:
        roots.append(("data_dir", Path(data_dir).expanduser().resolve()))
    roots.append(("cache", cache_dir().expanduser().resolve()))
    return roots


def _under(path: str, roots: list[Path], inclusive: bool = False) -> bool:
    resolved = Path(path).resolve()
    return any((inclusive and resolved == root) or root in resolved.parents for root in roots)


def _relative(path: str, roots: list[tuple[str, Path]]) -> tuple[str, str]:
    resolved = Path(path).resolve()
    for tag, root in roots:
        try:
            return tag, resolved.relative_to(root).as_posix()
        except ValueError:
            continue
    return "abs", str(resolved)


def _locate(tag: str, name: str, roots: dict[str, Path]) -> Path | None:
    if tag == "abs":
        return Path(name)
    root = roots.get(tag)
    return None if root is None else root / name


def sample_hash(path: Path, size: int) -> str:
    h = hashlib.blake2b(digest_size=12)
    with open(path, "rb") as fh:
        if size <= 3 * _BLOCK:
            h.update(fh.read())
        else:
            for offset in (0, size // 2 - _BLOCK // 2, size - _BLOCK):
                fh.seek(offset)
                h.update(fh.read(_BLOCK))
    return h.hexdigest()


def _listing_hash(path: Path) -> str:
    return hashlib.blake2b("\n".join(sorted(os.listdir(path))).encode(), digest_size=12).hexdigest()


def fingerprint(spec: Any, files: list[str], dirs: list[str], tensors: str) -> dict[str, Any]:
    roots = _roots(getattr(spec, "data_dir", None))
    hashed = len(files) <= HASHED_FILES
    entries = []
    for f in sorted(files):
        tag, name = _relative(f, roots)
        size = os.path.getsize(f)
        entries.append({"root": tag, "name": name, "size": size, "hash": sample_hash(Path(f), size) if hashed else None})
    listed = []
    for d in sorted(dirs):
        tag, name = _relative(d, roots)
        if tag == "cache":  # the cache's own listing changes as it fills: not the data
            continue
        listed.append({"root": tag, "name": name, "entries": _listing_hash(Path(d))})
    body = {"dataset": spec.name, "files": entries, "dirs": listed, "tensors": tensors}
    digest = hashlib.blake2b(repr(sorted(body.items())).encode(), digest_size=12).hexdigest()
    return {**body, "digest": digest}


def recheck(fp: dict[str, Any], data_dir: str | None) -> list[str]:
    """What differs between a recorded fingerprint and the files now under ``data_dir`` (and the
    cache): a missing, resized or rewritten file, a folder whose entries changed. A cache file that is
    gone is not a change (the loader makes it again)."""
    roots = dict(_roots(data_dir))
    changes = []
    for entry in fp.get("files") or ():
        path = _locate(entry["root"], entry["name"], roots)
        if path is None or not path.is_file():
            if entry["root"] != "cache":
                changes.append(f"{entry['name']} is missing")
            continue
        size = path.stat().st_size
        if size != entry["size"]:
            changes.append(f"{entry['name']} is {size:,} bytes, was {entry['size']:,}")
        elif entry.get("hash") is not None and sample_hash(path, size) != entry["hash"]:
            changes.append(f"{entry['name']} has other content")
    for entry in fp.get("dirs") or ():
        path = _locate(entry["root"], entry["name"], roots)
        if path is None or not path.is_dir():
            if entry["root"] != "cache":
                changes.append(f"folder {entry['name'] or '.'} is missing")
            continue
        if _listing_hash(path) != entry["entries"]:
            changes.append(f"folder {entry['name'] or '.'} holds other files")
    return changes
