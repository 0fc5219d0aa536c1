"""Which cation takes the A site in perov_5, and what that leaves a CSP generator.

    python bench/perov_sites.py [--data CSV ...] [--generator perovskite-csp]

Every perov_5 crystal is a cubic ABX3 cell: cation A 12-fold, cation B 6-fold
(nearest to the anions). Given only the composition, a CSP generator must choose
which cation goes where. This script reads the data (default: the generator's own
training data) and prints:

- how many compositions occur once and how many twice, and of the twins, how
  many are the same framework with A and B swapped (pymatgen's StructureMatcher
  with species ignored, the evaluation's tolerances);
- how often the larger cation (pymatgen's atomic radius) sits on the A site, as
  Goldschmidt's tolerance factor would have it: near 50% means the data set holds
  either arrangement regardless of size;
- for the generator's held-out splits, how many crystals share their composition
  with a crystal it trained on.

It asserts nothing and times nothing: it explains the match rate that
`kozo model evaluate-generator` reports next to its framework match rate.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from model.datasets import read_dataset  # noqa: E402
from model.datasets.records import to_pymatgen_structure  # noqa: E402
from model.generative.artifact import load_generator  # noqa: E402
from model.generative.assessment import training_data  # noqa: E402
from model.generative.evaluation import matcher  # noqa: E402

ANIONS = {7, 8, 9, 16}  # N, O, F, S: the X of perov_5's ABX3


def larger_cation_on_a_site(crystal) -> bool | None:
    """True when the 12-fold cation has the larger atomic radius; None if not an ABX3 cell
    with two cations of known, different radii."""
    cations = [k for k, site in enumerate(crystal) if site.specie.Z not in ANIONS]
    anions = [k for k, site in enumerate(crystal) if site.specie.Z in ANIONS]
    if len(cations) != 2 or not anions:
        return None
    nearest = {k: min(crystal.get_distance(k, j) for j in anions) for k in cations}
    b_site, a_site = sorted(cations, key=nearest.get)
    radius_a, radius_b = crystal[a_site].specie.atomic_radius, crystal[b_site].specie.atomic_radius
    if radius_a is None or radius_b is None or radius_a == radius_b:
        return None
    return radius_a > radius_b


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--generator", default="perovskite-csp",
                        help="generator whose training data and held-out splits to read")
    parser.add_argument("--data", nargs="+", help="CDVAE CSV(s) (default: the generator's)")
    args = parser.parse_args()
    _model, description = load_generator(args.generator)
    dataset = read_dataset(args.data or training_data(description))
    crystals = {s.id: to_pymatgen_structure(s.structure) for s in dataset.samples}
    by_composition: dict[tuple, list[str]] = defaultdict(list)
    for sample in dataset.samples:
        by_composition[tuple(sorted(sample.structure.numbers.tolist()))].append(sample.id)

    print(f"{len(dataset.samples)} crystals, {len(by_composition)} compositions")
    same, framework = matcher(), matcher(ignore_species=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for entries in sorted({len(ids) for ids in by_composition.values()}):
            groups = [ids for ids in by_composition.values() if len(ids) == entries]
            sizes = [larger_cation_on_a_site(crystals[i]) for ids in groups for i in ids]
            judged = [s for s in sizes if s is not None]
            line = (f"compositions with {entries} crystal{'s' if entries > 1 else ''}: "
                    f"{len(groups)}; larger cation on the A site in "
                    f"{100 * sum(judged) / len(judged):.1f}% of {len(judged)} crystals")
            if entries == 2:
                swapped = sum(framework.fit(crystals[a], crystals[b])
                              and not same.fit(crystals[a], crystals[b]) for a, b in groups)
                line += (f"; the two are one framework with the cations swapped in "
                         f"{swapped} of {len(groups)}")
            print(line)
    held_out = set(description.get("validation_ids", [])) | set(description.get("test_ids", []))
    trained = {key for key, ids in by_composition.items()
               if any(i not in held_out for i in ids)}
    composition_of = {i: key for key, ids in by_composition.items() for i in ids}
    for split in ("validation_ids", "test_ids"):
        ids = [i for i in description.get(split, []) if i in composition_of]
        twins = sum(composition_of[i] in trained for i in ids)
        print(f"{split.split('_')[0]} split: {len(ids)} crystals, {twins} of them with their "
              f"composition among the training crystals")


if __name__ == "__main__":
    main()
