"""Every ``docs/<page>.md`` that a project file names exists (params.yaml comments included)."""

from __future__ import annotations

import re

from tests.conftest import REPO, project_files

DOC_PATH = re.compile(r"(?<![\w./-])docs/[\w/.-]+?\.md\b")
TEXT_SUFFIXES = {".md", ".py", ".yaml", ".yml", ".toml", ".sh", ".txt", ".cfg", ""}


def named_doc_paths() -> dict[str, list[str]]:
    named: dict[str, list[str]] = {}
    for path in project_files():
        if path.suffix not in TEXT_SUFFIXES or path.parts[0] == "tests":
            continue
        try:
            text = (REPO / path).read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        for found in DOC_PATH.findall(text):
            named.setdefault(found, []).append(str(path))
    return named


def test_named_doc_pages_exist() -> None:
    named = named_doc_paths()
    assert "docs/team-mode.md" in named  # the scan sees what the README names
    missing = {page: files for page, files in named.items() if not (REPO / page).is_file()}
    assert not missing, f"pages named but absent: {missing}"
