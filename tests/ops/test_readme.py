"""The docs' operations commands name stages and flags that exist (the command for re-reading `path`
sources lives in docs/data-and-profiles.md, linked from the README)."""
from __future__ import annotations

import re

from pipelines.dag import is_source, read_dag
from tests.conftest import BIN, ROOT


def test_docs_source_stages_are_the_dags_source_stages():
    text = (ROOT / "docs" / "data-and-profiles.md").read_text()
    match = re.search(r"dvc repro --force --single-item <source stage> && dvc repro` \(source stages: ([^)]*)\)", text)
    assert match, "docs/data-and-profiles.md lost the command for re-reading `path` sources"
    named = re.findall(r"`([a-z]+-[a-z]+)`", match.group(1))
    sources = [s.name for s in read_dag(ROOT) if is_source(s)]
    assert sorted(named) == sorted(sources)


def test_readme_repro_flags_exist():
    import subprocess

    help_text = subprocess.run([str(BIN / "dvc"), "repro", "--help"], capture_output=True, text=True).stdout
    assert "--force" in help_text and "--single-item" in help_text
