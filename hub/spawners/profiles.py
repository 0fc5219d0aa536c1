"""Named resource profiles for notebook servers: what a user may ask for.

Requests are what the scheduler reserves, limits what the server may use.
Units follow Kubernetes: CPU in cores ("500m" = half a core), memory in bytes
with binary suffixes ("2Gi"). The local spawner records the profile but does
not enforce it.
"""

from __future__ import annotations

from dataclasses import dataclass

from hub.spawners.errors import UnknownProfile


@dataclass(frozen=True)
class Profile:
    """CPU and memory a notebook server asks for (requests) and may use (limits)."""

    name: str
    description: str
    cpu_request: str
    cpu_limit: str
    memory_request: str
    memory_limit: str

    def kubernetes_resources(self) -> dict[str, dict[str, str]]:
        """The container's `resources` field."""
        return {
            "requests": {"cpu": self.cpu_request, "memory": self.memory_request},
            "limits": {"cpu": self.cpu_limit, "memory": self.memory_limit},
        }


PROFILES: dict[str, Profile] = {p.name: p for p in [
    Profile("small", "browse data and run a quick model check",
            cpu_request="250m", cpu_limit="1", memory_request="1Gi", memory_limit="2Gi"),
    Profile("default", "everyday analysis",
            cpu_request="500m", cpu_limit="2", memory_request="2Gi", memory_limit="4Gi"),
    Profile("large", "fine-tuning on a few thousand structures",
            cpu_request="2", cpu_limit="4", memory_request="8Gi", memory_limit="16Gi"),
]}


def get_profile(profile: str | Profile, profiles: dict[str, Profile] = PROFILES) -> Profile:
    """The profile by name (a Profile passes through), or UnknownProfile naming the choices."""
    if isinstance(profile, Profile):
        return profile
    try:
        return profiles[profile]
    except KeyError:
        raise UnknownProfile(f"unknown server profile {profile!r}; choose one of "
                             f"{', '.join(sorted(profiles))}") from None
