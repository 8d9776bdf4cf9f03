"""The parallel corpus as ``sequence-pairs`` stores it (``{split}.{en,ja}``: tokens separated by a
space, one sentence a line; ``vocab.{en,ja}.txt``: one token a line, ids in line order), read back as
vocabularies, tokens and tensors for the translators (``sequence-translate``, ``sequence-evaluate``)."""
from __future__ import annotations

from pathlib import Path

from stages.sequence.vocab import Vocab, encode_padded


def languages(direction: str) -> tuple[str, str]:
    """``"ja-en"`` → ``("ja", "en")``: the source and the target language."""
    source, target = direction.split("-")
    return source, target


def read_tokens(path: Path) -> list[list[str]]:
    return [line.split(" ") for line in path.read_text(encoding="utf-8").splitlines()]


def read_vocab(path: Path) -> Vocab:
    return Vocab(path.read_text(encoding="utf-8").splitlines())


def encode(src_vocab: Vocab, tgt_vocab: Vocab, source: list[list[str]], target: list[list[str]]):
    """Tensors ``(src, src_len, tgt_in, tgt_out)``: the source's ids padded; the target as ``<bos>`` +
    tokens (the decoder's input) and tokens + ``<eos>`` (what it must say)."""
    import torch

    src, src_len = encode_padded(src_vocab, source)
    tgt, _ = encode_padded(tgt_vocab, target, bos=True, eos=True)
    return (torch.from_numpy(src), torch.from_numpy(src_len), torch.from_numpy(tgt[:, :-1]).contiguous(),
            torch.from_numpy(tgt[:, 1:]).contiguous())


def load_split(folder: Path, split: str, direction: str):
    """The vocabularies, the tokens and the encoded ``split`` of ``sequence-pairs``' output folder, in
    ``direction``: ``(src_vocab, tgt_vocab, src_tokens, tgt_tokens, tensors)``."""
    source, target = languages(direction)
    src_vocab, tgt_vocab = read_vocab(folder / f"vocab.{source}.txt"), read_vocab(folder / f"vocab.{target}.txt")
    src_tokens, tgt_tokens = read_tokens(folder / f"{split}.{source}"), read_tokens(folder / f"{split}.{target}")
    return src_vocab, tgt_vocab, src_tokens, tgt_tokens, encode(src_vocab, tgt_vocab, src_tokens, tgt_tokens)
