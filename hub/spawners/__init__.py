"""Per-user notebook servers: a local process by default, a Kubernetes pod in production.

The hub uses the interface in `base` (start, poll, stop, reconcile, progress);
`local.LocalSpawner` and `kubernetes.KubernetesSpawner` implement it.
"""

from hub.spawners.base import ProgressEvent, Reconciled, ServerInfo, Spawner, State, Status
from hub.spawners.errors import (ServerBusy, SpawnerError, SpawnFailed, SpawnTimeout,
                                 UnknownProfile)
from hub.spawners.profiles import PROFILES, Profile, get_profile

__all__ = ["PROFILES", "Profile", "ProgressEvent", "Reconciled", "ServerBusy", "ServerInfo",
           "SpawnFailed", "SpawnTimeout", "Spawner", "SpawnerError", "State", "Status",
           "UnknownProfile", "get_profile"]
