"""Export to ONNX and the torch-free engine: parity with torch, refusals, no torch import."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from pymatgen.core import Lattice, Structure

from model.artifact import ArtifactError, ArtifactMetadata, TargetInfo
from model.datasets.records import from_pymatgen
from model.export_onnx import export_onnx
from model.infer import PredictionError, Predictor
from model.nn import PaiNN, PropertyHead
from model.nn.property_model import PropertyModel
from model.nn.readout import TargetSpec
from tests.model.test_networks import batch_of, triclinic_crystal

CUTOFF = 4.0


def random_crystals(n: int, seed: int) -> list[Structure]:
    """Perturbed supercells of different sizes, so that atom and edge counts vary."""
    rng = np.random.default_rng(seed)
    crystals = []
    for _ in range(n):
        repeat = tuple(int(r) for r in rng.integers(1, 3, 3))
        crystal = triclinic_crystal() * repeat
        crystal.perturb(0.05, min_distance=0.0)
        crystals.append(crystal)
    return crystals


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    torch.manual_seed(1)
    targets = [TargetSpec("gap", "eV", "mean", 1.5, 0.7),
               TargetSpec("energy", "eV", "sum", -3.0, 0.4, {8: -4.0, 22: -7.0, 38: -1.5})]
    model = PropertyModel(PaiNN(n_features=16, n_interactions=2, cutoff=CUTOFF),
                          PropertyHead(16, targets))
    directory = tmp_path_factory.mktemp("artifact")
    example = batch_of(*random_crystals(3, seed=0), dtype=torch.float32)
    export_onnx(model, directory / "model.onnx", example)
    ArtifactMetadata(name="test-painn", version="0.1", cutoff=CUTOFF, elements=[8, 22, 38],
                     targets=[TargetInfo(t.name, t.unit, t.aggregation, t.mean, t.std)
                              for t in targets]).write(directory)
    return directory, model.float().eval()


@pytest.mark.parametrize("batch_size", [1, 64])
def test_onnx_engine_matches_torch(artifact, batch_size):
    directory, model = artifact
    crystals = random_crystals(batch_size, seed=batch_size)
    ours = Predictor(directory).predict_arrays([from_pymatgen(c, "c") for c in crystals])
    with torch.no_grad():
        reference = model.predict(batch_of(*crystals, dtype=torch.float32))
    expected = np.stack([reference[name].double().numpy() for name in ("gap", "energy")], axis=1)
    np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-5)


def test_predictions_are_named_with_the_artifact_targets(artifact):
    directory, _model = artifact
    predictor = Predictor(directory)
    [prediction] = predictor.predict([from_pymatgen(triclinic_crystal(), "SrTiO3")])
    assert set(prediction) == {"gap", "energy"}
    assert [t.unit for t in predictor.metadata.targets] == ["eV", "eV"]


@pytest.mark.parametrize("structure, message", [
    (Structure(Lattice.cubic(4.0), ["Cs", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]]),
     r"never saw Cl, Cs"),
    (Structure(Lattice.cubic(4.0), ["Sr", "O"], [[0, 0, 0], [0.01, 0, 0]]),
     r"atoms closer than 0.5 Å \(0.040 Å\)"),
])
def test_structures_the_model_cannot_judge_are_refused(artifact, structure, message):
    with pytest.raises(PredictionError, match=message):
        Predictor(artifact[0]).predict([from_pymatgen(structure, "bad.cif")])


def test_an_empty_structure_is_refused(artifact):
    empty = from_pymatgen(Structure(Lattice.cubic(4.0), [], []), "empty.cif")
    with pytest.raises(PredictionError, match=r"empty.cif: the structure has no atoms"):
        Predictor(artifact[0]).predict([empty])


def test_the_exported_graph_carries_no_stack_traces_or_local_paths(artifact):
    import onnx

    graph = onnx.load(str(artifact[0] / "model.onnx")).graph
    assert len(graph.node) > 50
    assert not [node.name for node in graph.node if node.metadata_props]
    assert str(Path(__file__).resolve().parents[2]).encode() not in \
        (artifact[0] / "model.onnx").read_bytes()


def test_the_engine_never_imports_torch(artifact):
    code = ("import sys; from model.infer import Predictor; from model.structure_files import "
            "read_structure; print('torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "False"


def test_unknown_format_version_is_refused(artifact, tmp_path):
    directory = tmp_path / "artifact"
    directory.mkdir()
    (directory / "model.onnx").write_bytes((artifact[0] / "model.onnx").read_bytes())
    metadata = json.loads((artifact[0] / "model.json").read_text())
    metadata["format_version"] = 99
    (directory / "model.json").write_text(json.dumps(metadata))
    with pytest.raises(ArtifactError, match=r"format version 99, this kozo reads 1"):
        Predictor(directory)


def test_a_folder_without_model_files_is_not_an_artifact(tmp_path):
    with pytest.raises(ArtifactError, match=r"not a model artifact \(no model.onnx\)"):
        Predictor(tmp_path)
