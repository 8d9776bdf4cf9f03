"""Benchmark of the nlp pipeline, each figure a ratio against a reference in the same run.

1. Tokenisation throughput (tokens/s) of the stage's functions vs plain loops written as the book
   writes them: English (:func:`stages.nlp.tokenize.tokenize_all`, one ``str.translate`` pass) vs the
   book's ``preprocessing_text`` (a ``str.replace`` per punctuation mark) + ``split`` + ``lower``;
   Japanese (:class:`stages.nlp.text.JapaneseTokenizer`) vs a plain Janome ``wakati`` loop after the
   book's ``re.sub`` preprocessing. Goal: >= 0.9x each.
2. Training throughput (reviews/s) of the classifier on the core Trainer (the stage's
   ``make_trainer``: objective, validation off, resume checkpoints on) vs a plain PyTorch loop over the
   same network, optimizer and batches, at the default params' shapes.

Data: the gensim source (the smoke data: gensim's 200 labelled sentences and 300 news documents; the Japanese
text of stages/nlp/japanese.py, repeated). Usage: python benchmarks/bench_nlp.py [--repeats 5]
"""
from __future__ import annotations

import argparse
import logging
import re
import string
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._common import write_result  # noqa: E402
from stages.core.batches import TensorData  # noqa: E402
from stages.core.device import setup_torch  # noqa: E402
from stages.nlp.download import gensim_reviews  # noqa: E402
from stages.nlp.japanese import TEXT as JAPANESE  # noqa: E402
from stages.nlp.nets import TransformerConfig  # noqa: E402
from stages.nlp.params import NlpParams  # noqa: E402
from stages.nlp.text import JapaneseTokenizer  # noqa: E402
from stages.nlp.tokenize import tokenize_all  # noqa: E402
from stages.core.training import TrainingRun  # noqa: E402
from stages.nlp.nets import KIND  # noqa: E402
from stages.nlp.train import classifier_parts, cpu_threads  # noqa: E402
from stages.nlp.token_ids import PAD_ID  # noqa: E402

SEED = 42
EPOCHS = 5


def book_preprocessing_english(text: str) -> str:
    """小川 ch. 7's ``preprocessing_text`` for IMDb, as written there."""
    text = re.sub("<br />", "", text)
    for p in string.punctuation:
        if p in (".", ","):
            continue
        text = text.replace(p, " ")
    text = text.replace(".", " . ")
    return text.replace(",", " , ")


def plain_english(texts: list[str]) -> list[list[str]]:
    return [[t.lower() for t in book_preprocessing_english(x).strip().split()] for x in texts]


def book_preprocessing_japanese(text: str) -> str:
    """小川 ch. 7's Japanese ``preprocessing_text``, as written there."""
    text = re.sub("\r", "", text)
    text = re.sub("\n", "", text)
    text = re.sub("　", "", text)
    text = re.sub(" ", "", text)
    return re.sub(r"[0-9 ０-９]", "0", text)


def best_rate(fn, tokens: int, repeats: int) -> float:
    """Tokens/s of the fastest of ``repeats`` calls."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return tokens / best


def tokenisation(repeats: int) -> dict:
    rows, unlabelled = gensim_reviews()
    english = [t for t, _ in rows] + unlabelled
    assert tokenize_all(english, True) == plain_english(english), "the stage's tokens differ from the book's"
    en_tokens = sum(len(d) for d in plain_english(english))
    lines = [line for line in JAPANESE.splitlines() if line.strip()] * 20
    ours = JapaneseTokenizer()
    from janome.tokenizer import Tokenizer

    janome = Tokenizer()

    def plain_japanese():
        return [list(janome.tokenize(book_preprocessing_japanese(line), wakati=True)) for line in lines]

    def stage_japanese():
        return [ours(line) for line in lines]

    assert stage_japanese() == plain_japanese(), "the stage's Japanese tokens differ from a plain Janome loop"
    ja_tokens = sum(len(d) for d in plain_japanese())
    out = {"english_tokens": en_tokens, "japanese_tokens": ja_tokens}
    for name, stage_fn, plain_fn, n in (("english", lambda: tokenize_all(english, True), lambda: plain_english(english), en_tokens),
                                        ("japanese", stage_japanese, plain_japanese, ja_tokens)):
        plain_rates, stage_rates = [], []
        for _ in range(repeats):  # interleaved: a slow spell of a shared machine hits both
            plain_rates.append(best_rate(plain_fn, n, 3))
            stage_rates.append(best_rate(stage_fn, n, 3))
        out[name] = {"stage_tokens_per_s": max(stage_rates), "plain_tokens_per_s": max(plain_rates),
                     "ratio": max(stage_rates) / max(plain_rates)}
    return out


def training(repeats: int) -> dict:
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    p = NlpParams.model_validate(raw["nlp"])
    tp = p.train.model_copy(update={"epochs": EPOCHS})
    n, vocab, d = 128, 1340, p.vectors.dim  # the gensim (smoke) data: ~120 train reviews, ~1,300 words
    gen = torch.Generator().manual_seed(SEED)
    ids = torch.randint(4, vocab, (n, p.vocab.max_len), generator=gen)
    ids[:, 0] = 2
    ids[torch.arange(p.vocab.max_len)[None, :] > torch.randint(8, p.vocab.max_len, (n, 1), generator=gen)] = PAD_ID
    y = torch.randint(0, 2, (n,), generator=gen)
    vectors = torch.randn(vocab, d, generator=gen)
    cfg = TransformerConfig(vocab=vocab, d_model=d, max_len=p.vocab.max_len, blocks=tp.blocks, ffn=tp.ffn, dropout=tp.dropout)
    cpu_threads(tp.threads)  # as the stage runs (nlp.train.threads)
    device = setup_torch(SEED, "auto")
    seen = EPOCHS * (n // tp.batch_size) * tp.batch_size

    def stage_run(folder: Path) -> float:
        run = TrainingRun("nlp-train", tp, kind=KIND, device=device.type, seed=SEED)
        trainer = run.build(**classifier_parts(cfg, vectors, tp), data=ids, key="bench", resume=folder / "last.pt")
        start = time.perf_counter()
        trainer.fit(TensorData(ids, y))
        seconds = time.perf_counter() - start
        trainer.discard_resume()
        return seen / seconds

    def plain_run() -> float:
        run = TrainingRun("nlp-train", tp, kind=KIND, device=device.type, seed=SEED)
        trainer = run.build(**classifier_parts(cfg, vectors, tp), data=ids)  # the same network and optimizer
        net, opt = trainer.models["net"], trainer.optimizers["net"]
        net.train()
        x, t = ids.to(device), y.to(device)
        shuffle = torch.Generator().manual_seed(SEED)
        start = time.perf_counter()
        for _ in range(EPOCHS):
            perm = torch.randperm(n, generator=shuffle)
            for i in range(0, n - tp.batch_size + 1, tp.batch_size):
                b = perm[i:i + tp.batch_size].to(device)
                loss = F.cross_entropy(net(x[b])[0], t[b])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return seen / (time.perf_counter() - start)

    stage_rates, plain_rates = [], []
    with tempfile.TemporaryDirectory() as tmp:
        stage_run(Path(tmp))  # warm-up, not measured
        for _ in range(repeats):
            plain_rates.append(plain_run())
            stage_rates.append(stage_run(Path(tmp)))
    return {"device": device.type, "threads": torch.get_num_threads(), "epochs": EPOCHS, "reviews": n,
            "max_len": p.vocab.max_len, "d_model": d, "stage_reviews_per_s": max(stage_rates),
            "plain_reviews_per_s": max(plain_rates), "ratio": max(stage_rates) / max(plain_rates)}


def main() -> None:
    cli = argparse.ArgumentParser(description="nlp: tokenisation and training throughput vs plain loops")
    cli.add_argument("--repeats", type=int, default=5)
    args = cli.parse_args()
    logging.basicConfig(level=logging.WARNING)
    result = {"tokenisation": tokenisation(args.repeats), "training": training(args.repeats)}
    path = write_result("bench_nlp", result)
    tok, tr = result["tokenisation"], result["training"]
    for name in ("english", "japanese"):
        r = tok[name]
        print(f"tokenise {name:8s}: stage {r['stage_tokens_per_s']:>10,.0f} tokens/s, plain loop {r['plain_tokens_per_s']:>10,.0f} "
              f"tokens/s, ratio {r['ratio']:.2f} (goal >= 0.9)")
    print(f"train ({tr['device']}, {tr['threads']} threads): core Trainer {tr['stage_reviews_per_s']:.0f} reviews/s, plain loop "
          f"{tr['plain_reviews_per_s']:.0f} reviews/s, ratio {tr['ratio']:.2f}")
    print(f"written to {path}")


if __name__ == "__main__":
    main()
