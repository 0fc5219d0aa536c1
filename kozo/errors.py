"""The root of kozo's domain errors: the CLI prints these as one line, exit 2."""


class KozoError(Exception):
    """A failure the user can act on (bad input, unreachable hub, full spool)."""
