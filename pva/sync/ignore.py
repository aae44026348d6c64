"""Ignore rules for sync: built-in defaults plus a gitignore-like ``.pvaignore`` in each synced root.

Supported syntax (a subset of gitignore): blank lines and ``#`` comments, ``!`` to re-include, a trailing ``/``
for directories only, a pattern with a ``/`` (other than trailing) is anchored at the root, otherwise it matches
a name at any depth; ``*``, ``?``, ``[abc]``, ``**`` (any number of directories).  The last matching rule wins;
the contents of an ignored directory are ignored.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

IGNORE_FILE = ".pvaignore"

#: Always-ignored junk: OS metadata, editor swap files, temporary files and partial downloads.
DEFAULT_PATTERNS = (
    IGNORE_FILE, ".DS_Store", "._*", "Thumbs.db", "ehthumbs.db", "desktop.ini", "*.tmp", "*.temp", ".*.swp",
    ".*.swo", "*~", ".~lock.*#", "~$*", "*.part", "*.partial", "*.crdownload", "*.download", "*.!ut", "*.opdownload",
    ".git/", ".svn/", "@eaDir/", ".Trash-*/", ".Trashes/", ".Spotlight-V100/", ".fseventsd/", ".thumbnails/",
    ".stversions/", ".stfolder/", ".sync/", "#recycle/", "$RECYCLE.BIN/",
)


@dataclass(frozen=True)
class _Rule:
    regex: re.Pattern
    negate: bool
    dir_only: bool
    anchored: bool


def _translate(pat: str) -> str:
    out: list[str] = []
    i, n = 0, len(pat)
    while i < n:
        c = pat[i]
        if c == "*":
            if pat.startswith("**/", i):
                out.append("(?:.*/)?")
                i += 3
                continue
            if pat.startswith("**", i):
                out.append(".*")
                i += 2
                continue
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            j = pat.find("]", i + 2)
            if j == -1:
                out.append(re.escape(c))
            else:
                body = pat[i + 1:j]
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append("[" + body.replace("\\", "\\\\") + "]")
                i = j + 1
                continue
        elif c == "\\" and i + 1 < n:
            out.append(re.escape(pat[i + 1]))
            i += 2
            continue
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


def parse_rule(line: str) -> _Rule | None:
    line = line.rstrip("\n").rstrip("\r")
    if not line.strip() or line.startswith("#"):
        return None
    line = line.rstrip() if not line.endswith("\\ ") else line
    negate = line.startswith("!")
    if negate:
        line = line[1:]
    elif line.startswith("\\!") or line.startswith("\\#"):
        line = line[1:]
    dir_only = line.endswith("/")
    line = line.rstrip("/")
    if not line:
        return None
    anchored = "/" in line
    line = line.lstrip("/")
    return _Rule(re.compile("^" + _translate(line) + "$", re.DOTALL), negate, dir_only, anchored)


class IgnoreRules:
    """Decides whether a path (relative to its root, '/'-separated) is ignored."""

    def __init__(self, patterns=DEFAULT_PATTERNS):
        self.rules: list[_Rule] = [r for r in (parse_rule(p) for p in patterns) if r is not None]

    @classmethod
    def for_root(cls, root: Path) -> "IgnoreRules":
        """The defaults plus ``<root>/.pvaignore`` when present (its rules come last, so they can re-include)."""
        rules = cls()
        f = Path(root) / IGNORE_FILE
        if f.is_file():
            text = f.read_text(encoding="utf-8", errors="replace")
            rules.rules += [r for r in (parse_rule(p) for p in text.splitlines()) if r is not None]
        return rules

    def _match_one(self, rel: str, is_dir: bool) -> bool | None:
        name = rel.rsplit("/", 1)[-1]
        verdict = None
        for r in self.rules:
            if r.dir_only and not is_dir:
                continue
            if r.regex.match(rel if r.anchored else name):
                verdict = not r.negate
        return verdict

    def ignored(self, rel: str, is_dir: bool = False) -> bool:
        """True when the entry itself or any of its parent directories is ignored."""
        parts = [p for p in rel.split("/") if p]
        for i in range(1, len(parts)):
            if self._match_one("/".join(parts[:i]), True):
                return True
        return bool(self._match_one("/".join(parts), is_dir))

    def ignored_entry(self, rel: str, is_dir: bool) -> bool:
        """Like ignored() but without re-checking the parents (for a walk that already pruned them)."""
        return bool(self._match_one(rel, is_dir))
