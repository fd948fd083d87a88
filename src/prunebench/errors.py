"""User-facing errors.

Everything a person can get wrong (a config key, a path, a ratio, a corrupt file) raises a subclass of
:class:`PrunebenchError` with a one-line message that names the problem. The CLI turns these into one
line on stderr and exit status 2; anything else is a bug and keeps its traceback.
"""


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
