"""The shipped artifacts: complete model.json, and `kozo predict` on a fresh install."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from model.artifact import ArtifactMetadata
from model.pretrained import SHIPPED, shipped_models

EXAMPLES = Path(__file__).resolve().parents[2] / "kozo" / "examples"
EXPECTED = {"perovskite": ({"heat_all": "eV/cell", "ind_gap": "eV"}, "SrTiO3.cif"),
            "qm9": ({"U0": "eV", "gap": "eV"}, "benzene.xyz")}
# Targets the README claims the model has learned. The perovskite band gap is not among them:
# it is zero for most perovskites, and L1 training learns the median (R² ≈ 0; see issue 4).
LEARNED = {"perovskite": ["heat_all"], "qm9": ["U0", "gap"]}


def test_both_models_are_shipped():
    assert set(EXPECTED) <= set(shipped_models())


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_model_json_records_targets_splits_and_held_out_metrics(name):
    metadata = ArtifactMetadata.read(SHIPPED / name)
    units, _example = EXPECTED[name]
    assert {t.name: t.unit for t in metadata.targets} == units
    splits = {split: set(ids) for split, ids in metadata.splits.items()}
    assert all(splits[s] for s in ("train", "val", "test"))
    assert not (splits["train"] & splits["test"] or splits["val"] & splits["test"])
    for target in units:
        assert metadata.metrics["test"][f"{target}_n"] == len(splits["test"])
        assert metadata.metrics["test"][f"{target}_mae"] > 0
    for target in LEARNED[name]:
        assert metadata.metrics["test"][f"{target}_r2"] > 0.9  # far better than the mean
    assert len(metadata.data_fingerprint) == 64 and metadata.cutoff > 0


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_kozo_predict_with_a_shipped_model_by_name(name):
    units, example = EXPECTED[name]
    result = subprocess.run([sys.executable, "-m", "kozo", "predict", "--model", name,
                             str(EXAMPLES / example), "--json"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    line = json.loads(result.stdout)
    assert line["units"] == units
    assert all(np.isfinite(v) for v in line["predictions"].values())
