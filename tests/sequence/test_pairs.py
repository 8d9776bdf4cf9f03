"""sequence-pairs: the Tanaka layout from every source, tokens, vocabularies, and bad input refused
with one line naming the file and the line."""
import io
import tarfile
import zipfile

import pytest

from stages.core.errors import DataError
from stages.sequence.pairs import describe, fit_vocab
from stages.sequence.tanaka import DATASETS, VENDORED, archive_files, folder_files, read_pairs, split_names, vendored_files
from stages.sequence.course_check import tanaka_zip

EN = b"i am a cat .\nit is fine today .\n"
JA = "吾輩 は 猫 で あ る 。\n今日 は 晴れ だ 。\n".encode()


def layout(**replace: bytes) -> dict[str, bytes]:
    files = {f"{split}.{lang}": EN if lang == "en" else JA for split in ("train", "dev", "test") for lang in ("en", "ja")}
    return files | replace


def test_the_vendored_pairs_are_the_shared_datas_and_split_10000_500_500(shared_data):
    files, where = vendored_files()
    assert set(files) == set(VENDORED) and where == str(DATASETS)
    for name in files:  # the same bytes as the project's shared data folder, whose README gives the provenance
        shared = shared_data / "small_parallel_enja" / name
        if shared.is_file():
            assert shared.read_bytes() == files[name]
    names = split_names(files, where)
    assert names[("train", "en")] == ["train.en.000"] and names[("test", "ja")] == ["test.ja"]
    counts = {k: sum(files[n].count(b"\n") for n in v) for k, v in names.items()}
    assert counts[("train", "en")] == counts[("train", "ja")] == 10_000 and counts[("dev", "ja")] == counts[("test", "en")] == 500


def test_a_changed_vendored_file_is_refused_by_name(tmp_path):
    for name in VENDORED:
        (tmp_path / name).write_bytes((DATASETS / name).read_bytes())
    (tmp_path / "dev.ja").write_bytes(b"x\n")
    with pytest.raises(DataError, match=r"dev\.ja: sha256 .* restore it"):
        vendored_files(tmp_path)


def test_english_is_split_and_japanese_rejoined_and_tokenised_by_janome():
    pairs = read_pairs(layout(), "here", 100)
    assert pairs["train"]["en"][0] == ["i", "am", "a", "cat", "."]
    ja = pairs["train"]["ja"]
    assert "".join(ja[0]) == "吾輩は猫である。"  # KyTea's split undone, Janome's put in its place
    assert ja[0][:2] == ["吾輩", "は"] and "ある" in ja[0]  # Janome keeps である's ある whole, KyTea split it
    vocab = fit_vocab(pairs["train"]["ja"], 1, "here/train.ja")
    stats = describe(pairs, {"en": fit_vocab(pairs["train"]["en"], 1, "e"), "ja": vocab})
    assert stats["splits"]["test"]["pairs"] == 2 and stats["splits"]["train"]["en"]["tokens_max"] == 5
    assert stats["splits"]["dev"]["ja"]["unknown_rate"] == 0.0 and stats["vocab"]["ja"] == len(vocab)


def test_shards_stand_for_a_missing_split_file_in_order():
    files = layout(**{"train.en.000": b"a .\n", "train.en.001": b"b .\n"})
    del files["train.en"]
    files["train.ja"] = "あ 。\nい 。\n".encode()
    pairs = read_pairs(files, "here", 100)
    assert pairs["train"]["en"] == [["a", "."], ["b", "."]]


@pytest.mark.parametrize("bad, message", [
    ({"dev.ja": JA + "余分 だ 。\n".encode()}, r"here/dev\.en has 2 lines but here/dev\.ja has 3"),
    ({"test.en": b"one .\n\nthree .\n", "test.ja": JA + "三 。\n".encode()}, r"here/test\.en:2: empty line"),
    ({"train.ja": "吾輩 は 猫 。\n".encode() + b"\xff\xfe bad\n"}, r"here/train\.ja:2: bytes that are not UTF-8 at column 1"),
    ({"train.en": b"ok .\n" + b"w " * 100_000 + b"\n"}, r"here/train\.en:2: 100000 tokens, more than sequence\.pairs\.max_tokens = 100"),
    ({"dev.ja": "。 \n今日 は 晴れ 。\n".encode().replace("。 ".encode(), b" ")}, r"here/dev\.ja:1: empty line"),
])
def test_bad_input_is_refused_with_the_file_and_the_line(bad, message):
    with pytest.raises(DataError, match=message) as err:
        read_pairs(layout(**bad), "here", 100)
    assert "\n" not in str(err.value)


def test_a_missing_split_file_and_an_empty_vocabulary_are_refused():
    files = layout()
    del files["test.ja"]
    with pytest.raises(DataError, match=r"here: no test\.ja \(nor test\.ja\.000"):
        read_pairs(files, "here", 100)
    pairs = read_pairs(layout(), "here", 100)
    with pytest.raises(DataError, match=r"here/train\.en: no token occurs 5 or more times .* lower sequence\.pairs\.min_freq"):
        fit_vocab(pairs["train"]["en"], 5, "here/train.en")


def test_archives_and_folders_of_the_layout_are_read(tmp_path):
    zipped = tmp_path / "master.zip"
    zipped.write_bytes(tanaka_zip(train=20, held_out=5))
    files, where = archive_files(zipped)
    assert where.endswith("small_parallel_enja-master") and files["train.en"].count(b"\n") == 20
    assert files["dev.ja"] == b"".join((DATASETS / "dev.ja").read_bytes().splitlines(keepends=True)[:5])

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        for name, data in layout().items():
            info = tarfile.TarInfo(f"top/data/{name}")
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    tarred = tmp_path / "pairs.tar.gz"
    tarred.write_bytes(buf.getvalue())
    assert archive_files(tarred)[0] == layout()

    (tmp_path / "folder").mkdir()
    for name, data in layout(**{"README.md": b"ignored"}).items():
        (tmp_path / "folder" / name).write_bytes(data)
    assert folder_files(tmp_path / "folder")[0] == layout()

    with zipfile.ZipFile(tmp_path / "none.zip", "w") as z:
        z.writestr("a/train.en", EN)
    with pytest.raises(DataError, match=r"none\.zip: expected one folder holding dev\.en .* found 0"):
        archive_files(tmp_path / "none.zip")
    (tmp_path / "junk.zip").write_bytes(b"not an archive")
    with pytest.raises(DataError, match=r"junk\.zip: not a \.zip or \.tar\.gz archive"):
        archive_files(tmp_path / "junk.zip")
    with pytest.raises(DataError, match=r"nowhere: no such folder"):
        folder_files(tmp_path / "nowhere")
