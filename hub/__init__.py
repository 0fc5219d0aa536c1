"""The hub: ingest, storage, identity, data API, model registry and notebook spawners."""
