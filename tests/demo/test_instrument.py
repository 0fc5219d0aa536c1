"""The simulated instrument writes what a real one would: readable structures, patterns, images."""

import math

import numpy as np
from pymatgen.core import Lattice, Structure

from kozo.demo.instrument import (diffraction_pattern, read_reference, run_instrument,
                                  reference_lines)
from kozo.demo.samples import Sample, prototype_samples
from model.structure_files import read_structure

CU_K_ALPHA = 1.54184  # Å, the weighted Kα1/Kα2 wavelength pymatgen uses for "CuKa"


def test_each_run_writes_a_structure_a_pattern_an_image_and_a_log_line(tmp_path):
    runs = list(run_instrument(tmp_path, prototype_samples(seed=3), interval=0, count=2))
    assert [run.number for run in runs] == [1, 2]
    for run in runs:
        structure = read_structure(run.files[0])
        assert len(structure.numbers) == 5 and structure.pbc.all()
        assert run.files[2].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        columns = np.loadtxt(run.files[1], comments="#")
        assert columns.shape[1] == 2 and columns[:, 1].max() > 10.0
    log_lines = (tmp_path / "instrument.log").read_text().splitlines()
    assert len(log_lines) == 2 and "run 2" in log_lines[1]
    assert not list(tmp_path.rglob("*.part"))  # the temporary image name never stays behind


def test_the_strongest_peak_of_a_cubic_cell_sits_where_bragg_puts_a_low_index_reflection():
    a = 4.0
    cif = Structure(Lattice.cubic(a), ["Sr", "Ti", "O", "O", "O"],
                    [[0.5, 0.5, 0.5], [0, 0, 0], [0.5, 0, 0], [0, 0.5, 0], [0, 0, 0.5]]
                    ).to(fmt="cif")
    two_theta = np.arange(10.0, 80.0, 0.01)
    pattern = diffraction_pattern(cif, two_theta)
    strongest = two_theta[np.argmax(pattern)]
    bragg = {hkl: 2 * math.degrees(math.asin(CU_K_ALPHA / (2 * a / math.sqrt(sum(h * h for h in hkl)))))
             for hkl in [(1, 0, 0), (1, 1, 0), (1, 1, 1), (2, 0, 0), (2, 1, 0), (2, 1, 1)]}
    assert min(abs(strongest - angle) for angle in bragg.values()) < 0.1


def test_reference_values_survive_the_trip_through_a_cif_comment(tmp_path):
    sample = Sample(name="x", cif=next(prototype_samples()).cif,
                    reference={"heat_all": -1.25, "ind_gap": 2.5},
                    units={"heat_all": "eV/cell", "ind_gap": "eV"})
    path = tmp_path / "x.cif"
    path.write_text(reference_lines(sample) + sample.cif)
    assert read_reference(path.read_text()) == {"heat_all": -1.25, "ind_gap": 2.5}
    assert len(read_structure(path).numbers) == 5  # readers skip the comment lines


def test_samples_from_a_cdvae_csv_carry_their_reference_values(tmp_path):
    import csv

    from kozo.demo.samples import dataset_samples

    cifs = [sample.cif for sample, _ in zip(prototype_samples(seed=1), range(3))]
    with (tmp_path / "train.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, ["material_id", "cif", "formula", "heat_all"])
        writer.writeheader()
        for number, cif in enumerate(cifs):
            writer.writerow({"material_id": number, "cif": cif, "formula": f"F{number}",
                             "heat_all": 0.5 * number})
    samples = list(dataset_samples(tmp_path))
    assert sorted(s.reference["heat_all"] for s in samples) == [0.0, 0.5, 1.0]
    assert {s.units["heat_all"] for s in samples} == {"eV/cell"}
    assert {s.cif for s in samples} == set(cifs)
