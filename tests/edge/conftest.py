"""Fixtures for the edge tests: one real hub per module, a fresh instrument per test."""

import pytest

from tests.edge.real_hub import Facility


@pytest.fixture(scope="module")
def facility(tmp_path_factory):
    """The module's `kozo hub serve` with a project, its reader and an admin."""
    facility = Facility(tmp_path_factory.mktemp("hub"))
    yield facility
    facility.hub.stop()


@pytest.fixture
def hub(facility):
    """The module's hub, running (a test before may have left it down)."""
    if not facility.hub.running:
        facility.hub.start()
    return facility.hub


@pytest.fixture
def device(facility, hub, tmp_path):
    """A new instrument at the hub and this test's edge device, enrolled for it."""
    return facility.enrol(tmp_path / "credential.json", tmp_path / "downloads")


@pytest.fixture
def instrument(tmp_path):
    """The folder the instrument PC writes into."""
    folder = tmp_path / "instrument"
    folder.mkdir()
    return folder
