"""Which files in a watched folder are instrument data: include and exclude globs."""

from __future__ import annotations

from fnmatch import fnmatchcase
from pathlib import Path


class Selection:
    """A path is taken when some include pattern matches it and no exclude pattern does.

    Patterns match the path relative to its folder or its file name, so "*.cif"
    and "raw/*.dat" both work; exclude patterns also match any folder on the way,
    so ".*" skips hidden folders too.
    """

    def __init__(self, folders: list[Path], include: list[str], exclude: list[str]) -> None:
        self.folders = [Path(f) for f in folders]
        self.include = include
        self.exclude = exclude

    def folder_of(self, path: Path) -> Path | None:
        for folder in self.folders:
            if path == folder or folder in path.parents:
                return folder
        return None

    def relative_path(self, path: Path) -> str | None:
        """The path the hub sees, or None when the file is not to be sent.

        With several folders the folder's own name comes first, so that two
        folders holding the same file name stay apart at the hub.
        """
        folder = self.folder_of(path)
        if folder is None:
            return None
        relative = path.relative_to(folder)
        parts = relative.parts
        text = relative.as_posix()
        if any(fnmatchcase(part, p) for part in parts for p in self.exclude) or \
                any(fnmatchcase(text, p) for p in self.exclude):
            return None
        if not any(fnmatchcase(text, p) or fnmatchcase(path.name, p) for p in self.include):
            return None
        return f"{folder.name}/{text}" if len(self.folders) > 1 else text
