"""What a user asks the generator for: a composition, property targets; parsed or refused.

Each mistake is a GenerationRequestError (a KozoError) naming what arrived and
what was expected, so that the CLI prints one line and exits 2.
"""

from __future__ import annotations

import math

from kozo.errors import KozoError


class GenerationRequestError(KozoError):
    """A composition or property request the generator cannot serve."""


def parse_composition(text: str, vocabulary: list[int]) -> list[int]:
    """Atomic numbers of every atom of the cell, e.g. 'SrTiO3' → [38, 22, 8, 8, 8]."""
    from pymatgen.core import Composition, Element

    try:
        composition = Composition(text)
    except Exception as error:  # pymatgen raises ValueError or its own for unknown symbols
        raise GenerationRequestError(f"--composition {text!r} is not a chemical formula "
                                     f"({error})") from None
    if not composition.num_atoms:
        raise GenerationRequestError(f"--composition {text!r} has no atoms")
    unknown = [str(e) for e in composition.elements if not isinstance(e, Element)]
    if unknown:
        raise GenerationRequestError(f"--composition {text!r}: {', '.join(unknown)} is not an "
                                     f"element")
    numbers = []
    for element, amount in composition.items():
        if not float(amount).is_integer():
            raise GenerationRequestError(f"--composition {text!r}: {element} has a fractional "
                                         f"amount {amount}; give whole atoms per cell")
        numbers += [Element(str(element)).Z] * int(amount)
    unknown = sorted({z for z in numbers if z not in vocabulary})
    if unknown:
        names = ", ".join(Element.from_Z(z).symbol for z in unknown)
        raise GenerationRequestError(f"--composition {text!r}: the generator never saw {names}; "
                                     f"it knows {len(vocabulary)} elements")
    return numbers


def parse_property(text: str, properties: list[str]) -> tuple[str, float]:
    """'heat_all=0.5' → ('heat_all', 0.5); the name must be one the generator is conditioned on."""
    name, separator, value = text.partition("=")
    name = name.strip()
    try:
        number = float(value) if separator else math.nan
    except ValueError:
        number = math.nan
    if not separator or not math.isfinite(number):
        raise GenerationRequestError(f"--property takes NAME=VALUE with a finite number, e.g. "
                                     f"heat_all=0.5; got {text!r}")
    if name not in properties:
        raise GenerationRequestError(f"--property {name!r}: the generator is conditioned on "
                                     f"{', '.join(properties) or 'no property'}")
    return name, number
