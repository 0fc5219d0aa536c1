"""A small labelled data set built here: the model tests need no shared data."""

import csv

import numpy as np
import pytest
import torch
from pymatgen.core import Lattice, Structure
from pymatgen.io.cif import CifWriter

SITES = ["Sr", "Ti", "O", "O", "O"]
FRACTIONAL = [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]


def spend_minutes(run_folder, minutes: float) -> None:
    """Make a run's last.pt say it has used `minutes` of its time (as a long run would have)."""
    state = torch.load(run_folder / "last.pt", weights_only=False)
    state["seconds_used"] = 60 * minutes
    torch.save(state, run_folder / "last.pt")


@pytest.fixture
def one_thread():
    """Tiny models run fastest on one thread; more only fight over a busy machine's cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    """60 cubic perovskites whose target is their lattice constant (Å), learnable from distances."""
    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp("data") / "val.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["", "material_id", "cif", "lattice_a", "volume_per_atom"])
        for k in range(60):
            a = rng.uniform(3.6, 4.4)
            crystal = Structure(Lattice.cubic(a), SITES, FRACTIONAL)
            crystal.perturb(0.03)
            writer.writerow([k, f"p{k}", str(CifWriter(crystal)), a, crystal.volume / 5])
    return path
