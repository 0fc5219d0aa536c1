"""`kozo model evaluate-generator`: a generator against held-out crystals of a data set.

For every reference crystal one crystal of the same composition is generated
(CSP; a de novo generator fixes the types by replacement) and scored with
evaluation.csp_metrics. A de novo generator also samples as many crystals freely
for validity and uniqueness. With a property model, the property of each
composition-matched generated crystal is predicted and compared with the
reference crystal's value (MAE, histogram).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kozo.errors import KozoError
from model.datasets import read_dataset
from model.datasets.records import to_pymatgen_structure
from model.generative.diffusion import CrystalDiffusion
from model.generative.evaluation import csp_metrics, de_novo_metrics, to_pymatgen
from model.generative.generate import as_structure, predict_properties, sample_crystals


class GeneratorSplitError(KozoError):
    """--split names a held-out split that the generator or the data does not have."""


@dataclass
class GeneratorAssessment:
    metrics: dict[str, float]  # match_rate (%), rmse, n, skipped, and de novo / property scores
    property_values: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)  # property → unit


def assess_generator(model: CrystalDiffusion, description: dict, data: str | list, *,
                     limit: int | None = None, seed: int = 0,
                     property_model: Path | None = None,
                     split: str | None = None) -> GeneratorAssessment:
    """split: "test" or "validation" keeps only the crystals of `data` that the generator
    held out under that name (its ids in generator.json); `limit` then counts those."""
    dataset = read_dataset(data, limit=None if split else limit)
    samples = dataset.samples if split is None else \
        held_out(dataset.samples, description, split)[:limit]
    known = set(model.vocabulary)
    samples_in = [s for s in samples if set(s.structure.numbers.tolist()) <= known]
    references = [to_pymatgen_structure(s.structure) for s in samples_in]
    slots = sample_crystals(model, description, len(samples_in),
                            compositions=[s.structure.numbers.tolist() for s in samples_in],
                            seed=seed)
    metrics = csp_metrics([to_pymatgen(c) for c in slots], references)
    metrics["skipped"] = len(samples) - len(samples_in)
    if model.mode == "de_novo":
        free = sample_crystals(model, description, len(samples_in), seed=seed + 1)
        metrics |= de_novo_metrics([to_pymatgen(c) for c in free])
        metrics["n"] = len(samples_in)
    assessment = GeneratorAssessment(metrics=metrics)
    if property_model is not None and slots:
        predictions, units = predict_properties(
            [as_structure(c, f"generated {k}") for k, c in enumerate(slots)], property_model)
        for name in [n for n in units if n in dataset.units]:
            predicted = np.array([p.get(name, np.nan) for p in predictions], dtype=float)
            actual = np.array([s.targets.get(name, np.nan) for s in samples_in], dtype=float)
            both = np.isfinite(predicted) & np.isfinite(actual)
            metrics[f"{name}_mae"] = float(np.abs(predicted[both] - actual[both]).mean()) \
                if both.any() else float("nan")
            metrics[f"{name}_n"] = int(both.sum())
            assessment.property_values[name] = (predicted[both], actual[both])
            assessment.units[name] = units[name]
    return assessment


def training_data(description: dict) -> list[str]:
    """The data paths a generator recorded, as given at training time. A relative one that
    is not there from the working directory is taken from the repository root, where the
    shipped configurations are run, so that --split works from any directory."""
    root = Path(__file__).resolve().parents[2]
    paths = []
    for given in description.get("data", []):
        path = Path(given)
        if not path.is_absolute() and not path.exists() and (root / path).exists():
            path = root / path
        paths.append(str(path))
    return paths


def held_out(samples: list, description: dict, split: str) -> list:
    """The samples whose ids the generator recorded for `split` (it never trained on them)."""
    key = {"test": "test_ids", "validation": "validation_ids"}[split]
    ids = set(description.get(key) or [])
    if not ids:
        raise GeneratorSplitError(f"this generator recorded no {split} split (train it with "
                                  f"test_fraction > 0 for a test split)")
    chosen = [s for s in samples if s.id in ids]
    if not chosen:
        raise GeneratorSplitError(f"none of the {len(samples)} crystals of the data is in the "
                                  f"generator's {split} split ({len(ids)} ids, e.g. "
                                  f"{sorted(ids)[0]}): pass the data it was trained on "
                                  f"({', '.join(description.get('data', []))})")
    return chosen
