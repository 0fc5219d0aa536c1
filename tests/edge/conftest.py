"""Fixtures for the edge tests: a protocol hub process and the folders a daemon watches."""

import pytest

from tests.edge.processes import HubProcess


@pytest.fixture
def hub(tmp_path):
    process = HubProcess(tmp_path / "hub").start()
    yield process
    process.stop()


@pytest.fixture
def instrument(tmp_path):
    """The folder the instrument PC writes into."""
    folder = tmp_path / "instrument"
    folder.mkdir()
    return folder
