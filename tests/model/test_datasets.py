"""Data set readers on files built here from prototypes (no shared data needed)."""

import csv
import gzip
import json

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure
from pymatgen.io.cif import CifWriter
from pymatgen.io.vasp import Poscar

from model.datasets import DatasetError, read_dataset


def perovskite(a_site: str, b_site: str, anion: str, a: float) -> Structure:
    return Structure(Lattice.cubic(a), [a_site, b_site, anion, anion, anion],
                     [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])


PROTOTYPES = [("SrTiO3", perovskite("Sr", "Ti", "O", 3.905), 1.25, 1.8),
              ("BaZrO3", perovskite("Ba", "Zr", "O", 4.19), 2.5, 3.1),
              ("KNbO3", perovskite("K", "Nb", "O", 4.0), 0.75, 0.0)]


def write_cdvae_csv(path, rows):
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["", "material_id", "cif", "formula", "heat_all", "ind_gap", "note"])
        for index, (name, structure, heat, gap) in enumerate(rows):
            writer.writerow([index, f"id-{name}", str(CifWriter(structure)), name, heat, gap,
                             "text, not a target"])


def assert_same_structure(ours, reference: Structure):
    np.testing.assert_allclose(ours.cell, reference.lattice.matrix, atol=1e-6)
    np.testing.assert_allclose(ours.positions, reference.cart_coords, atol=1e-6)
    assert ours.numbers.tolist() == list(reference.atomic_numbers)
    assert ours.pbc.all()


def test_cdvae_csv_gives_structures_targets_and_units(tmp_path):
    path = tmp_path / "val.csv"
    write_cdvae_csv(path, PROTOTYPES)
    dataset = read_dataset(path)
    assert len(dataset) == 3
    assert dataset.target_names == ["heat_all", "ind_gap"]  # text columns are not targets
    assert dataset.units == {"heat_all": "eV/cell", "ind_gap": "eV"}
    for sample, (name, structure, heat, gap) in zip(dataset.samples, PROTOTYPES, strict=True):
        assert sample.id == f"id-{name}"
        assert sample.targets == {"heat_all": heat, "ind_gap": gap}
        assert_same_structure(sample.structure, structure)
    np.testing.assert_array_equal(dataset.target("ind_gap"), [1.8, 3.1, 0.0])


def test_fingerprint_changes_with_the_data_and_only_then(tmp_path):
    paths = []
    for folder, rows in (("first", PROTOTYPES), ("copy", PROTOTYPES),
                         ("changed", PROTOTYPES[:2] + [("KNbO3", PROTOTYPES[2][1], 0.76, 0.0)])):
        (tmp_path / folder).mkdir()
        paths.append(tmp_path / folder / "val.csv")
        write_cdvae_csv(paths[-1], rows)
    first, copy, changed = (read_dataset(p).fingerprint for p in paths)
    assert first == copy  # the same bytes elsewhere on disk
    assert first != changed  # one target value differs


def test_a_broken_cif_is_named_by_its_row(tmp_path):
    path = tmp_path / "val.csv"
    write_cdvae_csv(path, PROTOTYPES)
    text = path.read_text().replace("_cell_length_a", "_cell_length_q", 1)
    path.write_text(text)
    with pytest.raises(DatasetError, match=r"row 1 \(id-SrTiO3\): the CIF does not parse"):
        read_dataset(path)


def test_unknown_target_lists_the_ones_there(tmp_path):
    path = tmp_path / "val.csv"
    write_cdvae_csv(path, PROTOTYPES)
    with pytest.raises(DatasetError, match=r"no target 'band_gap'; it has heat_all, ind_gap"):
        read_dataset(path).target("band_gap")


def test_cgcnn_folder_reads_poscars_and_cifs_by_id(tmp_path):
    folder = tmp_path / "bandgap_optb88vdw"
    folder.mkdir()
    Poscar(PROTOTYPES[0][1]).write_file(folder / "POSCAR-SrTiO3.vasp")
    CifWriter(PROTOTYPES[1][1]).write_file(folder / "BaZrO3.cif")
    (folder / "id_prop.csv").write_text("POSCAR-SrTiO3.vasp,1.8\nBaZrO3,3.1\n")
    dataset = read_dataset(folder)
    assert [s.id for s in dataset.samples] == ["POSCAR-SrTiO3.vasp", "BaZrO3"]
    assert dataset.units == {"bandgap_optb88vdw": "eV"}
    np.testing.assert_array_equal(dataset.target("bandgap_optb88vdw"), [1.8, 3.1])
    assert_same_structure(dataset.samples[0].structure, PROTOTYPES[0][1])
    assert_same_structure(dataset.samples[1].structure, PROTOTYPES[1][1])


def test_cgcnn_vector_targets_become_numbered_columns(tmp_path):
    folder = tmp_path / "dos"
    folder.mkdir()
    CifWriter(PROTOTYPES[2][1]).write_file(folder / "k.cif")
    (folder / "id_prop.csv").write_text("k,0.1,0.2,0.3\n")
    dataset = read_dataset(folder)
    assert dataset.samples[0].targets == {"dos_0": 0.1, "dos_1": 0.2, "dos_2": 0.3}


def test_cgcnn_missing_structure_file_is_named(tmp_path):
    folder = tmp_path / "gaps"
    folder.mkdir()
    (folder / "id_prop.csv").write_text("ghost,1.0\n")
    with pytest.raises(DatasetError, match=r"no structure file for id 'ghost'"):
        read_dataset(folder)


def test_matbench_json_gz_reads_structures_and_numeric_columns(tmp_path):
    path = tmp_path / "matbench_dielectric.json.gz"
    table = {"structure": {str(k): s.as_dict() for k, (_n, s, _h, _g) in enumerate(PROTOTYPES)},
             "n": {"0": 2.4, "1": 2.1, "2": 2.3},
             "formula": {str(k): name for k, (name, *_rest) in enumerate(PROTOTYPES)}}
    with gzip.open(path, "wt") as handle:
        json.dump(table, handle)
    dataset = read_dataset(path)
    assert dataset.target_names == ["n"]
    np.testing.assert_array_equal(dataset.target("n"), [2.4, 2.1, 2.3])
    assert_same_structure(dataset.samples[1].structure, PROTOTYPES[1][1])


def test_disordered_structures_are_refused_with_the_row(tmp_path):
    path = tmp_path / "mixed.json"
    disordered = Structure(Lattice.cubic(4.0), [{"Sr": 0.5, "Ba": 0.5}], [[0, 0, 0]])
    path.write_text(json.dumps({"structure": {"7": disordered.as_dict()}, "n": {"7": 1.0}}))
    with pytest.raises(DatasetError, match=r"row 7: partial occupancies are not supported"):
        read_dataset(path)


@pytest.mark.parametrize("make, message", [
    (lambda p: p.write_text("a,b\n1,2\n"), "not a data set layout kozo knows"),
    (lambda p: None, "no such file or folder"),
])
def test_unknown_or_missing_paths_get_a_clear_error(tmp_path, make, message):
    path = tmp_path / "data.csv"
    make(path)
    with pytest.raises(DatasetError, match=message):
        read_dataset(path)


def test_gzip_that_is_not_json_is_refused(tmp_path):
    path = tmp_path / "broken.json.gz"
    path.write_bytes(gzip.compress(b"not json"))
    with pytest.raises(DatasetError, match=r"not a \(gzipped\) JSON table"):
        read_dataset(path)


def test_several_sets_combine_with_aliased_columns_merged(tmp_path):
    ours = tmp_path / "perov_5"
    ours.mkdir()
    write_cdvae_csv(ours / "val.csv", PROTOTYPES[:2])
    castelli = tmp_path / "extra.csv"  # the Castelli layout names the same quantities otherwise
    with castelli.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["", "e_form", "gap_gllbsc", "cif"])
        writer.writerow([7, 0.75, 0.0, str(CifWriter(PROTOTYPES[2][1]))])
    combined = read_dataset([ours / "val.csv", castelli])
    assert combined.target_names == ["heat_all", "ind_gap"]
    assert [s.id for s in combined.samples] == ["perov_5:id-SrTiO3", "perov_5:id-BaZrO3",
                                                 f"{tmp_path.name}:7"]
    np.testing.assert_array_equal(combined.target("heat_all"), [1.25, 2.5, 0.75])
    alone = [read_dataset(ours / "val.csv").fingerprint, read_dataset(castelli).fingerprint]
    assert combined.fingerprint not in alone
    assert read_dataset([ours / "val.csv", castelli]).fingerprint == combined.fingerprint
