"""Text in, tokens out: the course's preprocessing and tokenisers, and the readers of every source.

English (the book's ``preprocessing_text`` + ``tokenizer_punctuation``, IMDb): ``<br />`` removed,
every punctuation mark but ``.`` and ``,`` replaced by a space, ``.`` and ``,`` split off as tokens,
split on whitespace, lower-cased (torchtext's ``lower=True``). Japanese (the book's
``preprocessing_text`` + ``tokenizer_janome``): ``\\r``, ``\\n``, full- and half-width spaces removed,
every digit (half- or full-width) replaced by ``0``, then Janome's ``wakati`` surface forms.

Readers return ``(text, label)`` pairs with label 0 (negative) or 1 (positive) and refuse bad input
with the file and the line: a TSV row without a label or with one outside the label set, an empty
text, bytes that are not UTF-8, an aclImdb folder without ``pos/`` and ``neg/``.
"""
from __future__ import annotations

import re
import string
import tarfile
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from stages.core.errors import DataError

BOM = b"\xef\xbb\xbf"  # the UTF-8 byte-order mark some editors (Notepad, Excel) put at a file's start
LABELS = {"0": 0, "1": 1, "neg": 0, "pos": 1}  # the book's TSV writes 0/1; neg/pos read the same
SPLITS = ("train", "test")

# The book's loop of str.replace calls: each is one C-speed pass over the text, faster together than a
# single str.translate whose table maps characters to strings (measured: benchmarks/bench_nlp.py).
_EN_BLANKED = tuple(p for p in string.punctuation if p not in ".,")
# Japanese: line breaks and spaces (half- and full-width) removed, every digit 0-9 / ０-９ -> 0.
_JA_TABLE = str.maketrans({"\r": None, "\n": None, " ": None, "\u3000": None}
                          | {c: "0" for c in "0123456789０１２３４５６７８９"})


def preprocess_english(text: str) -> str:
    """The book's English preprocessing: ``<br />`` removed, punctuation but ``.`` ``,`` → space,
    ``.`` and ``,`` spaced apart."""
    text = text.replace("<br />", "")
    for p in _EN_BLANKED:
        text = text.replace(p, " ")
    return text.replace(".", " . ").replace(",", " , ")


def tokenize_english(text: str, lowercase: bool = True) -> list[str]:
    """Tokens of one English review (preprocessed, split on whitespace, lower-cased)."""
    text = preprocess_english(text)
    return (text.lower() if lowercase else text).split()


def preprocess_japanese(text: str) -> str:
    """The book's Japanese preprocessing: no line breaks or spaces, every digit → ``0``."""
    return text.translate(_JA_TABLE)


class JapaneseTokenizer:
    """Janome ``wakati`` tokenisation after :func:`preprocess_japanese`.

    One Janome ``Tokenizer`` (its dictionary takes ~0.15 s to load) serves every call.
    """

    def __init__(self) -> None:
        from janome.tokenizer import Tokenizer

        self._janome = Tokenizer(wakati=True)

    def __call__(self, text: str) -> list[str]:
        """Surface forms of one text's tokens."""
        return list(self._janome.tokenize(preprocess_japanese(text), wakati=True))


def tokenize_japanese_lines(text: str, tokenizer: JapaneseTokenizer | None = None) -> list[list[str]]:
    """One token list per non-empty line (a line is a sentence: preprocessing removes line breaks)."""
    tokenizer = tokenizer or JapaneseTokenizer()
    return [tokens for line in text.splitlines() if (tokens := tokenizer(line))]


# ---- readers --------------------------------------------------------------------------------------

def decode_line(raw: bytes, where: str) -> str:
    """UTF-8 text of one line.

    Raises:
        DataError: ``where`` (``file:line``) and the offending byte's column.
    """
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{where}: bytes that are not UTF-8 at column {exc.start + 1} "
                        f"({raw[exc.start:exc.start + 1]!r}); save the file as UTF-8") from None


def without_bom(raw: bytes) -> bytes:
    """A file's bytes without a leading UTF-8 byte-order mark (else it would be part of the first token)."""
    return raw.removeprefix(BOM)


def parse_label(value: str, where: str) -> int:
    """0 or 1 from a label field; refuses an empty or unknown label."""
    value = value.strip()
    if not value:
        raise DataError(f"{where}: missing label (expected 'text<TAB>label', label one of {', '.join(LABELS)})")
    if value.lower() not in LABELS:
        raise DataError(f"{where}: label {value!r} is not in the label set ({', '.join(LABELS)})")
    return LABELS[value.lower()]


def read_tsv(path: str | Path) -> list[tuple[str, int]]:
    """Reviews of a TSV file, one ``text<TAB>label`` per line (no header; the label after the last tab).

    Raises:
        DataError: file and line of a missing or unknown label, an empty text, non-UTF-8 bytes.
    """
    path = Path(path)
    rows = []
    for i, raw in enumerate(without_bom(path.read_bytes()).splitlines(), start=1):
        where = f"{path}:{i}"
        line = decode_line(raw, where)
        if not line.strip():
            continue  # a blank line (a trailing newline) is no review
        text, tab, label = line.rpartition("\t")
        if not tab:
            raise DataError(f"{where}: missing label (no tab; expected 'text<TAB>label')")
        y = parse_label(label, where)
        if not text.strip():
            raise DataError(f"{where}: empty text")
        rows.append((text.strip(), y))
    if not rows:
        raise DataError(f"{path}: no reviews (expected lines 'text<TAB>label')")
    return rows


def read_fasttext_labelled(raw: bytes, where: str, encoding: str = "utf-8") -> list[tuple[str, int]]:
    """Lines ``__label__<pos|neg> text`` (fastText's format: gensim's pang_lee_polarity.cor)."""
    rows = []
    for i, line in enumerate(raw.decode(encoding).splitlines(), start=1):
        if not line.strip():
            continue
        tag, _, text = line.partition(" ")
        if not tag.startswith("__label__"):
            raise DataError(f"{where}:{i}: missing label (expected '__label__<pos|neg> text')")
        y = parse_label(tag.removeprefix("__label__"), f"{where}:{i}")
        if not text.strip():
            raise DataError(f"{where}:{i}: empty text")
        rows.append((text.strip(), y))
    return rows


def _review(raw: bytes, where: str) -> str:
    """One aclImdb review file's text (one line in IMDb; every line is checked)."""
    lines = [decode_line(line, f"{where}:{i}") for i, line in enumerate(without_bom(raw).splitlines(), start=1)]
    text = " ".join(lines).strip()
    if not text:
        raise DataError(f"{where}:1: empty text")
    return text


def _check_layout(found: dict[str, dict[str, list]], where: str) -> dict[str, list[tuple[str, int]]]:
    """Every split present has both ``pos/`` and ``neg/``; at least one split present."""
    if not found:
        raise DataError(f"{where}: no aclImdb layout found (expected train/pos, train/neg, test/pos, test/neg "
                        "folders of .txt reviews)")
    out = {}
    for split, by_label in sorted(found.items()):
        missing = [lab for lab in ("pos", "neg") if not by_label.get(lab)]
        if missing:
            raise DataError(f"{where}: {split}/ has no {' and no '.join(m + '/' for m in missing)} folder of .txt reviews "
                            "(aclImdb layout: <split>/pos/*.txt and <split>/neg/*.txt)")
        # sorted by file name: the same order whatever the archive's or file system's order
        out[split] = [(text, LABELS[lab]) for lab in ("neg", "pos") for _, text in sorted(by_label[lab])]
    return out


def read_aclimdb_folder(folder: str | Path) -> dict[str, list[tuple[str, int]]]:
    """Reviews of an aclImdb folder (the folder itself, or one holding ``aclImdb/``), by split.

    Raises:
        DataError: no split folder, a split without ``pos/`` or ``neg/``, a bad review file.
    """
    folder = Path(folder)
    root = folder / "aclImdb" if (folder / "aclImdb").is_dir() else folder
    found: dict[str, dict[str, list]] = {}
    for split in SPLITS:
        if not (root / split).is_dir():
            continue
        found[split] = {lab: [(f.name, _review(f.read_bytes(), str(f))) for f in sorted((root / split / lab).glob("*.txt"))]
                        for lab in ("pos", "neg") if (root / split / lab).is_dir()}
    return _check_layout(found, str(root))


def read_aclimdb_tar(path: str | Path) -> dict[str, list[tuple[str, int]]]:
    """Reviews of the IMDb archive (``aclImdb/{train,test}/{pos,neg}/*.txt``), read as a stream.

    Raises:
        DataError: not a tar.gz, or the layout or a review is bad (the member is named).
    """
    path = Path(path)
    found: dict[str, dict[str, list]] = {}
    try:
        with tarfile.open(path, "r:*") as tar:
            for member in tar:
                parts = PurePosixPath(member.name).parts
                if not member.isfile() or len(parts) < 4 or parts[-1][-4:] != ".txt":
                    continue
                split, label = parts[-3], parts[-2]
                if split in SPLITS and label in ("pos", "neg"):
                    raw = tar.extractfile(member).read()
                    found.setdefault(split, {}).setdefault(label, []).append(
                        (parts[-1], _review(raw, f"{path}:{member.name}")))
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise DataError(f"{path}: not a readable tar archive ({exc})") from None
    return _check_layout(found, str(path))


def clean_field(text: str) -> str:
    """A text as one TSV field: tabs and line breaks become spaces."""
    return re.sub(r"[\t\r\n]+", " ", text).strip()


def to_tsv(rows: Iterable[tuple[str, int]]) -> str:
    """``text<TAB>label`` lines (the book's TSV)."""
    return "".join(f"{clean_field(t)}\t{y}\n" for t, y in rows)
