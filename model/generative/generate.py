"""Sample crystals from a generator and write them: CIF files and a summary table.

The table (summary.csv, also returned) gives per crystal the formula, the space
group found by pymatgen's SpacegroupAnalyzer (symprec 0.1 Å), the cell (a, b, c
in Å; α, β, γ in degrees) and the properties predicted by a property model
artifact through the ONNX Predictor (blank when the model cannot judge it).
"""

from __future__ import annotations

import csv
import warnings
from pathlib import Path

import numpy as np

from model.datasets.progress import progress
from model.generative.config import SAMPLING_LIMITS, sampler_argument
from model.generative.diffusion import CrystalDiffusion, Sample
from model.generative.evaluation import to_pymatgen
from model.generative.ranking import best_of, candidate_losses
from model.structure_files import Structure

SYMPREC = 0.1  # Å


def sample_crystals(model: CrystalDiffusion, description: dict, n: int, *,
                    composition: list[int] | None = None,
                    compositions: list[list[int]] | None = None,
                    conditions: dict[str, float] | None = None, guidance: float | None = None,
                    seed: int = 0, batch_size: int = 64
                    ) -> list[Sample]:
    """n crystals. With `composition` (atomic numbers of the cell) every one has it; with
    `compositions` crystal k has compositions[k]; else (de novo) atom counts are drawn from
    those seen in training. Sampling follows the description's sampling_steps, step_lr,
    corrector_steps and corrector_start; with candidates k > 1, k crystals are drawn for
    each one returned, the likeliest by the generator's denoising loss (ranking.py)."""
    rng = np.random.default_rng(seed)
    if composition is not None:
        compositions = [composition] * n
    if compositions is not None:
        lookup = {z: k for k, z in enumerate(model.vocabulary)}
        counts = [len(c) for c in compositions]
        types = [[lookup[z] for z in c] for c in compositions]
    else:
        sizes = description.get("atom_counts", {}) or {"5": 1}
        choices = np.array([int(c) for c in sizes])
        weights = np.array(list(sizes.values()), dtype=float)
        counts = rng.choice(choices, size=n, p=weights / weights.sum()).tolist()
        types = None
    properties = np.full((n, len(model.properties)), np.nan)
    for name, value in (conditions or {}).items():
        properties[:, model.properties.index(name)] = value
    settings = {sampler_argument(key): description[key]
                for key in SAMPLING_LIMITS if key in description}  # else the sampler's own
    candidates = int(settings.pop("candidates", 1))
    if candidates > 1:  # a crystal's candidates side by side: same atoms, same conditions
        counts = [c for c in counts for _ in range(candidates)]
        types = None if types is None else [t for t in types for _ in range(candidates)]
        properties = np.repeat(properties, candidates, axis=0)
    samples = []
    batches = range(0, len(counts), batch_size)
    for start in progress(batches, f"sampling {len(counts)} crystals", total=len(batches),
                          unit="batch"):
        part = slice(start, start + batch_size)
        samples += model.sample(
            counts[part], None if types is None else types[part], properties[part],
            guidance=description.get("guidance", 1.0) if guidance is None else guidance,
            seed=seed + start, **settings)
    if candidates > 1:
        samples = best_of(candidates, samples,
                          candidate_losses(model, candidates, samples, properties, seed=seed))
    return samples


def as_structure(sample: Sample, source: str) -> Structure:
    return Structure(positions=sample.fractional @ sample.cell, cell=sample.cell,
                     pbc=np.ones(3, dtype=bool), numbers=sample.numbers, source=source)


def predict_properties(structures: list[Structure], property_model: Path | None
                       ) -> tuple[list[dict[str, float]], dict[str, str]]:
    """One {target: value} per structure (empty where the model refuses it), and the units."""
    if property_model is None:
        return [{} for _ in structures], {}
    from model.infer import Predictor
    from model.infer.engine import PredictionError

    predictor = Predictor(property_model)
    units = {t.name: t.unit for t in predictor.metadata.targets}
    predictions = []
    for structure in structures:
        try:
            predictions.append(predictor.predict([structure])[0])
        except PredictionError:
            predictions.append({})
    return predictions, units


def describe(sample: Sample) -> dict[str, object]:
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    crystal = to_pymatgen(sample)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            group = SpacegroupAnalyzer(crystal, symprec=SYMPREC).get_space_group_symbol()
    except Exception:  # spglib fails on degenerate cells: report it rather than stop
        group = "?"
    a, b, c = crystal.lattice.abc
    alpha, beta, gamma = crystal.lattice.angles
    return {"formula": crystal.composition.reduced_formula, "space_group": group,
            "a": a, "b": b, "c": c, "alpha": alpha, "beta": beta, "gamma": gamma}


def write_samples(samples: list[Sample], out: Path, property_model: Path | None,
                  prefix: str = "crystal") -> list[dict[str, object]]:
    """CIFs out/PREFIX_000.cif ... and out/summary.csv; returns the summary rows."""
    from pymatgen.io.cif import CifWriter

    out.mkdir(parents=True, exist_ok=True)
    names = [f"{prefix}_{k:03d}.cif" for k in range(len(samples))]
    for name, sample in zip(names, samples, strict=True):
        CifWriter(to_pymatgen(sample)).write_file(out / name)
    structures = [as_structure(s, name) for s, name in zip(samples, names, strict=True)]
    predictions, units = predict_properties(structures, property_model)
    rows = [{"file": name} | describe(sample)
            | {f"predicted_{t}" + (f" ({u})" if u else ""): prediction.get(t, "")
               for t, u in units.items()}
            for name, sample, prediction in zip(names, samples, predictions, strict=True)]
    with (out / "summary.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]) if rows else ["file"])
        writer.writeheader()
        writer.writerows(rows)
    return rows
