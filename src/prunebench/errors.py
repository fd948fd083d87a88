"""User-facing errors.

Everything a person can get wrong (a config key, a path, a ratio, a corrupt file) raises a subclass of
:class:`PrunebenchError` with a one-line message that names the problem. The CLI turns these into one
line on stderr and exit status 2; anything else is a bug and keeps its traceback.
"""


import errno
import os
import re


class PrunebenchError(Exception):
    """Bad input from the user: printed as one line, exit status 2."""


class ConfigError(PrunebenchError):
    """A spec, study file or command-line value is invalid."""


class DataError(PrunebenchError):
    """A data set is missing, malformed or unsafe."""


class ArtifactError(PrunebenchError):
    """A model directory, checkpoint or plan is missing, corrupt or does not fit."""


class PruneError(PrunebenchError):
    """A pruning spec cannot be applied to the given model."""


#: errno values that say the disk (not the input, not the code) failed: no space, quota, file too
#: large, read-only file system.
DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS})
_OS_ERROR_TEXT = re.compile(r"os error (\d+)")


def disk_error(err: BaseException | None) -> str | None:
    """A one-line message when ``err`` (or what caused it) says the disk is full, over quota or
    read-only, or a file hit its size limit: an OSError with such an errno, or a library's error that
    carries one as ``(os error N)`` (safetensors does). None for any other error."""
    for _ in range(10):
        if err is None:
            return None
        if isinstance(err, OSError) and err.errno in DISK_ERRNOS:
            where = f" {err.filename}" if err.filename else ""
            return f"cannot write{where} ({os.strerror(err.errno)}: disk full?)"
        found = _OS_ERROR_TEXT.search(str(err))
        if found and int(found.group(1)) in DISK_ERRNOS:
            return f"cannot write ({os.strerror(int(found.group(1)))}: disk full?)"
        err = err.__cause__ or err.__context__
    return None
