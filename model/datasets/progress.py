"""A progress bar for long reads, quiet when tqdm is missing or output is not a terminal."""

from __future__ import annotations

import sys
from typing import Iterable, Iterator, TypeVar

T = TypeVar("T")


def progress(items: Iterable[T], description: str, total: int | None = None,
             unit: str = "structure") -> Iterator[T]:
    try:
        from tqdm import tqdm
    except ImportError:
        yield from items
        return
    yield from tqdm(items, desc=description, total=total, unit=unit,
                    disable=not sys.stderr.isatty(), leave=False)
