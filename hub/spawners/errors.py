"""Why a notebook server could not be started or stopped, in words a person understands.

Each message names the user and says what to do next; the hub shows it as is.
"""

from kozo.errors import KozoError


class SpawnerError(KozoError):
    """A notebook server operation failed."""


class SpawnFailed(SpawnerError):
    """The server could not start: the process exited, the image could not be pulled, ..."""


class SpawnTimeout(SpawnFailed):
    """The server did not answer within the start timeout."""


class ServerBusy(SpawnerError):
    """A start or stop for this user is already under way."""


class UnknownProfile(SpawnerError):
    """The named resource profile does not exist."""
