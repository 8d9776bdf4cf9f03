"""The English–Japanese pairs of the Tanaka corpus in ``odashi/small_parallel_enja``'s layout: reading
every source (the vendored files, a folder, an archive), checking each line, tokenising
(``stages/sequence/parallel.py`` reads back what ``sequence-pairs`` stores).

The layout: ``{train,dev,test}.{en,ja}``, one sentence per line, line *i* of the ``.en`` file the
translation of line *i* of the ``.ja`` file; a split's shards ``train.en.000``, ``train.en.001``…
stand for a missing ``train.en`` and are read in order. Every check raises a :class:`DataError` of
one line naming the file and the line (see ``stages/sequence/pairs.py``).
"""
from __future__ import annotations

import logging
import re
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from stages.core.errors import DataError
from stages.core.vendored import vendored_file
from stages.nlp.text import JapaneseTokenizer, decode_line, without_bom

log = logging.getLogger(__name__)

LANGUAGES = ("en", "ja")
SPLITS = ("train", "dev", "test")
DATASETS = Path(__file__).resolve().parent / "datasets"
# sha256 of each vendored file (stages/sequence/datasets/README.md gives provenance, licence and citation)
VENDORED = {
    "train.en.000": "4dd6b09e59cc03bd78d5e541bf306ab6e5139e2ce2e12d02d093e0cc47cfcf8e",
    "train.ja.000": "6090d2bc45563d9d6b2244bf69edeb5cc004dd8aa5ab39469c83574d291ffe15",
    "dev.en": "04a2673449770657fd5e3b963cb856be3130923212b6db8ac7eaeef18f06c041",
    "dev.ja": "cd534f56b8639dc130f86a365e5ec0aa70042000bdd740a622fbbf8b6be4acca",
    "test.en": "45edb380749ec2b49cca7618fc5a7595fc9f791180672ba466b90c873a4aa8bf",
    "test.ja": "d37dc460a81b064e4106c8913eb11fa300da05cf3f58a7a5bbfec7e20947ddef",
}
_SHARD = re.compile(r"(train|dev|test)\.(en|ja)(\.\d+)?")

Files = dict[str, bytes]  # a file's name in the layout (``train.en.000``) → its bytes
Tokens = list[list[str]]


# ---- sources: each gives the layout's files as bytes, named by where they came from ----------------

def vendored_files(folder: Path = DATASETS) -> tuple[Files, str]:
    """The embedded pairs, each file's sha256 checked.

    Raises:
        DataError: a file is missing or its bytes are not the ones the README describes.
    """
    files = {name: vendored_file(folder, name, expected).read_bytes() for name, expected in VENDORED.items()}
    return files, str(folder)


def folder_files(folder: Path) -> tuple[Files, str]:
    """The layout's files in ``folder``.

    Raises:
        DataError: no such folder.
    """
    if not folder.is_dir():
        raise DataError(f"{folder}: no such folder (sequence.pairs.path: a folder with train/dev/test .en and .ja files)")
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file() and _SHARD.fullmatch(p.name)}, str(folder)


def archive_files(archive: Path) -> tuple[Files, str]:
    """The layout's files in a ``.zip`` or ``.tar.gz`` archive: those of the one folder that holds a ``dev.en``.

    Raises:
        DataError: not such an archive, or no folder in it holds ``dev.en``.
    """
    members: dict[PurePosixPath, Callable[[], bytes]] = {}
    try:
        if zipfile.is_zipfile(archive):
            z = zipfile.ZipFile(archive)
            members = {PurePosixPath(i.filename): (lambda i=i: z.read(i)) for i in z.infolist() if not i.is_dir()}
        else:
            t = tarfile.open(archive, "r:*")
            members = {PurePosixPath(m.name): (lambda m=m: t.extractfile(m).read()) for m in t.getmembers() if m.isfile()}
    except (tarfile.TarError, zipfile.BadZipFile, OSError) as exc:
        raise DataError(f"{archive}: not a .zip or .tar.gz archive ({exc})") from None
    folders = sorted({p.parent for p in members if p.name == "dev.en"})
    if len(folders) != 1:
        raise DataError(f"{archive}: expected one folder holding dev.en (the small_parallel_enja layout), found {len(folders)}")
    return {p.name: read() for p, read in members.items() if p.parent == folders[0] and _SHARD.fullmatch(p.name)}, f"{archive}:{folders[0]}"


def split_names(files: Files, where: str) -> dict[tuple[str, str], list[str]]:
    """``(split, language)`` → the file names that make it (``train.en``, or its shards in order).

    Raises:
        DataError: a split has no file for a language.
    """
    names = {}
    for split in SPLITS:
        for lang in LANGUAGES:
            whole = f"{split}.{lang}"
            shards = sorted(n for n in files if n.startswith(whole + "."))
            names[(split, lang)] = [whole] if whole in files else shards
            if not names[(split, lang)]:
                raise DataError(f"{where}: no {whole} (nor {whole}.000, …): the layout is {{train,dev,test}}.{{en,ja}}")
    return names


# ---- reading and checking ---------------------------------------------------------------------------

def read_lines(files: Files, names: list[str], where: str, max_tokens: int) -> tuple[list[str], list[str]]:
    """The lines of ``names`` in order, and for each the ``file:line`` it came from.

    Raises:
        DataError: ``file:line`` of bytes that are not UTF-8, an empty line, a line of more than
            ``max_tokens`` space-separated tokens.
    """
    lines, origins = [], []
    for name in names:
        raw_lines = without_bom(files[name]).splitlines()
        for i, raw in enumerate(raw_lines, start=1):
            at = f"{where}/{name}:{i}"
            line = decode_line(raw, at)
            if not line.strip():
                raise DataError(f"{at}: empty line (each line is one sentence, paired with the same line of the other language)")
            if (n := len(line.split())) > max_tokens:
                raise DataError(f"{at}: {n} tokens, more than sequence.pairs.max_tokens = {max_tokens}")
            lines.append(line)
            origins.append(at)
    return lines, origins


def check_paired(en: list[str], ja: list[str], en_names: list[str], ja_names: list[str], where: str) -> None:
    """Both languages of a split have as many lines.

    Raises:
        DataError: the two files and their line counts.
    """
    if len(en) != len(ja):
        raise DataError(f"{where}/{'+'.join(en_names)} has {len(en)} lines but {where}/{'+'.join(ja_names)} has {len(ja)}: "
                        "line i of one must be the translation of line i of the other")


def tokenize(lang: str, lines: list[str], origins: list[str], max_tokens: int, japanese: JapaneseTokenizer | None = None) -> Tokens:
    """English: lower-cased, split on spaces. Japanese: the words joined again, then Janome's tokens.

    Raises:
        DataError: ``file:line`` of a line with no token left, or more than ``max_tokens`` of them.
    """
    if lang == "en":
        out = [line.lower().split() for line in lines]
    else:
        japanese = japanese or JapaneseTokenizer()
        out = [japanese(line) for line in lines]
    for tokens, at in zip(out, origins):
        if not tokens:
            raise DataError(f"{at}: no token left after tokenising")
        if len(tokens) > max_tokens:
            raise DataError(f"{at}: {len(tokens)} tokens after tokenising, more than sequence.pairs.max_tokens = {max_tokens}")
    return out


def read_pairs(files: Files, where: str, max_tokens: int, max_train_pairs: int = 0) -> dict[str, dict[str, Tokens]]:
    """split → language → each sentence's tokens (every check of the module docstring); the first
    ``max_train_pairs`` training pairs only, when it is not 0 (every line is checked all the same)."""
    names = split_names(files, where)
    japanese = JapaneseTokenizer()
    out: dict[str, dict[str, Tokens]] = {}
    for split in SPLITS:
        read = {lang: read_lines(files, names[(split, lang)], where, max_tokens) for lang in LANGUAGES}
        check_paired(read["en"][0], read["ja"][0], names[(split, "en")], names[(split, "ja")], where)
        if split == "train" and max_train_pairs:
            read = {lang: (lines[:max_train_pairs], origins[:max_train_pairs]) for lang, (lines, origins) in read.items()}
        out[split] = {lang: tokenize(lang, *read[lang], max_tokens, japanese) for lang in LANGUAGES}
        log.info("%s: %d pairs", split, len(out[split]["en"]))
    return out
