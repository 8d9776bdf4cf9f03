"""Reading and writing the pipeline's text files: reviews as TSV, tokenised documents as lines."""
from __future__ import annotations

from pathlib import Path

from stages.core.errors import DataError
from stages.core.io import require_file


def read_labelled(path: str | Path) -> tuple[list[str], list[int]]:
    """``text<TAB>label`` lines written by `nlp-download` (or ``label<TAB>tokens`` by `nlp-tokenize`,
    with ``tokens_first``): the texts and the 0/1 labels."""
    texts, labels = [], []
    for i, line in enumerate(require_file(path).read_text(encoding="utf-8").splitlines(), start=1):
        text, tab, label = line.rpartition("\t")
        if not tab or label not in ("0", "1"):
            raise DataError(f"{path}:{i}: expected 'text<TAB>0|1' (rerun the upstream stage: dvc repro)")
        texts.append(text)
        labels.append(int(label))
    return texts, labels


def read_lines(path: str | Path) -> list[str]:
    """Non-empty lines of a UTF-8 file (may be empty: no unlabelled text)."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: not found (run the upstream stage first: dvc repro)")
    return [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def write_documents(docs: list[list[str]], labels: list[int] | None = None) -> str:
    """One document per line, tokens joined by a space (tokens hold no whitespace); ``<TAB>label`` after."""
    if labels is None:
        return "".join(" ".join(d) + "\n" for d in docs)
    return "".join(f"{' '.join(d)}\t{y}\n" for d, y in zip(docs, labels))


def read_documents(path: str | Path, labelled: bool = True) -> tuple[list[list[str]], list[int]]:
    """Documents (token lists) and labels (empty when ``labelled`` is False) written by :func:`write_documents`."""
    if not labelled:
        return [line.split(" ") for line in read_lines(path)], []
    texts, labels = read_labelled(path)
    return [t.split(" ") if t else [] for t in texts], labels
