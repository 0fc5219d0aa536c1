"""Scores of generated crystals, with the definitions of CDVAE (Xie et al. 2022) and DiffCSP.

CSP: a generated crystal matches its reference when pymatgen's StructureMatcher
(stol=0.5, angle_tol=10, ltol=0.3) fits them; RMSE is the mean, over matches,
of the matcher's RMS displacement normalised by (V/N)^⅓. The framework match rate
counts the crystals that match once species are ignored (pymatgen's
FrameworkComparator): the difference is crystals whose geometry is right and
whose atoms sit on the wrong sites (in perov_5, A and B swapped). De novo: structural
validity (no pair closer than 0.5 Å, volume above 0.1 Å³), compositional
validity (a charge-neutral oxidation-state assignment exists; pymatgen's
oxi_state_guesses stands in for SMACT, which is not installed; one-element
crystals count as valid), and uniqueness (distinct StructureMatcher groups / n).
"""

from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np

from kernels import neighbor_list
from model.datasets.progress import progress
from model.generative.diffusion import Sample

MIN_DISTANCE = 0.5  # Å
MIN_VOLUME = 0.1  # Å³


def matcher(*, ignore_species: bool = False):
    from pymatgen.analysis.structure_matcher import (FrameworkComparator, SpeciesComparator,
                                                     StructureMatcher)
    comparator = FrameworkComparator() if ignore_species else SpeciesComparator()
    return StructureMatcher(stol=0.5, angle_tol=10, ltol=0.3, comparator=comparator)


def to_pymatgen(sample: Sample):
    from pymatgen.core import Lattice, Structure
    return Structure(Lattice(sample.cell), sample.numbers.tolist(), sample.fractional)


def csp_metrics(generated: Sequence, references: Sequence) -> dict[str, float]:
    """match_rate (%), rmse (normalised by (V/N)^⅓; NaN without matches) and
    framework_match_rate (%, species ignored) of pymatgen Structures generated[k] against
    references[k]; None in `generated` counts as a miss."""
    structure_matcher, framework_matcher = matcher(), matcher(ignore_species=True)
    distances, framework_only = [], 0
    pairs = zip(generated, references, strict=True)
    for candidate, reference in progress(pairs, "matching", total=len(references)):
        if candidate is None:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rms = structure_matcher.get_rms_dist(candidate, reference)
            if rms is None:  # the geometry may still be right, with atoms on the wrong sites
                framework_only += framework_matcher.fit(candidate, reference)
        if rms is not None:
            distances.append(rms[0])
    n = len(references)
    return {"match_rate": 100.0 * len(distances) / n if n else float("nan"),
            "rmse": float(np.mean(distances)) if distances else float("nan"),
            "framework_match_rate": 100.0 * (len(distances) + framework_only) / n
            if n else float("nan"),
            "n": n}


def structurally_valid(structure) -> bool:
    """No two atoms (any images) closer than 0.5 Å, and a cell of non-negligible volume."""
    if abs(structure.volume) < MIN_VOLUME:
        return False
    pairs = neighbor_list(np.asarray(structure.cart_coords), np.asarray(structure.lattice.matrix),
                          [True] * 3, MIN_DISTANCE)
    return len(pairs.d) == 0


def compositionally_valid(structure) -> bool:
    composition = structure.composition
    if len(composition.elements) == 1:
        return True
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return len(composition.oxi_state_guesses(max_sites=-50)) > 0


def uniqueness(structures: Sequence) -> float:
    """Distinct crystals (StructureMatcher groups) as a fraction of all."""
    if not structures:
        return float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        groups = matcher().group_structures(list(structures))
    return len(groups) / len(structures)


def de_novo_metrics(structures: Sequence) -> dict[str, float]:
    structural = [structurally_valid(s) for s in structures]
    compositional = [compositionally_valid(s) for s in structures]
    n = len(structures)
    return {"structural_validity": 100.0 * sum(structural) / n if n else float("nan"),
            "compositional_validity": 100.0 * sum(compositional) / n if n else float("nan"),
            "uniqueness": 100.0 * uniqueness(structures), "n": n}
