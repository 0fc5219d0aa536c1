"""Several data sets read as one: the perovskite model learns from perov_5 and perov_5_extra.

The same quantity goes by different column names in different sources
(perov_5's `heat_all` is the Castelli `e_form`); `SAME_QUANTITY` maps each
alias to one canonical name, so that the combined set has one column per
quantity. Ids are prefixed with the set's name, so they stay unique.
"""

from __future__ import annotations

import hashlib

from model.datasets.records import Dataset, Sample

# alias → canonical name, from the SOURCE.md of each data set
SAME_QUANTITY = {"e_form": "heat_all", "gap_gllbsc": "ind_gap"}


def canonical_target(name: str) -> str:
    return SAME_QUANTITY.get(name, name)


def combine_datasets(datasets: list[Dataset]) -> Dataset:
    """One data set holding every sample, with aliased targets merged."""
    if len(datasets) == 1:
        return datasets[0]
    samples, units, names = [], {}, []
    for dataset in datasets:
        for name in dataset.target_names:
            canonical = canonical_target(name)
            units.setdefault(canonical, dataset.units[name])
            if canonical not in names:
                names.append(canonical)
        samples.extend(Sample(id=f"{dataset.name}:{s.id}", structure=s.structure,
                              targets={canonical_target(k): v for k, v in s.targets.items()})
                       for s in dataset.samples)
    fingerprint = hashlib.sha256("|".join(d.fingerprint for d in datasets).encode()).hexdigest()
    return Dataset(name="+".join(d.name for d in datasets), samples=samples, units=units,
                   fingerprint=fingerprint, source=" + ".join(d.source for d in datasets),
                   target_names=names)
