"""Stage `sequence-dates`: seq2seq with and without attention on date-format normalisation.

Human-written dates (twelve formats, :mod:`stages.sequence.date_formats`) → ISO 8601, character by
character, generated from ``common.seed`` (the test dates from a generator seeded apart). Two
encoder–decoders of the same sizes (:mod:`stages.sequence.seq2seq`: a bidirectional GRU encoder, a GRU
decoder), one with Bahdanau's additive attention and one without (the notes' thought vector), each
trained under ``seeds`` seeds side by side on the same data and budget (core's trainer, teacher forcing), then
decoded greedily on the test dates.

Outputs: ``metrics.json`` (exact match per run, per model mean and range, by format, each ISO
character's accuracy by position, the goals:
attention at least ``ATTENTION_GOAL`` on every seed, no attention at most ``PLAIN_CEILING``),
``by_length.csv`` (exact match against the input's length, per model: Bahdanau et al. 2015, Fig. 2's
question), ``predictions.csv`` (every test date and each first-seed model's answer), ``dates.png``
(accuracy by length and by format, and the attention weights of four test dates).
"""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from stages.core.figures import new_figure
from stages.core.runtime import run_stage
from stages.core.side_by_side import Run, over_seeds, seed_names, side_by_side_parts, variant_of
from stages.core.stage import Declared
from stages.core.training import TrainingRun
from stages.sequence import params
from stages.sequence.date_formats import FORMATS, ISO_LENGTH, generate
from stages.sequence.seq2seq import build, greedy, net_args, sequence_loss
from stages.sequence.vocab import BOS, Vocab, encode_padded

log = logging.getLogger(__name__)
KIND = "sequence-dates"
MODELS = {"attention": True, "plain": False}  # model name → attention
ATTENTION_GOAL = 0.995  # exact match every attention run reaches
PLAIN_CEILING = 0.5  # exact match no run without attention exceeds at the same budget
TEST_OFFSET = 2_000_003  # the test dates' generator is seeded apart from the training ones


def encode(texts: list[str], isos: list[str], src_vocab: Vocab, tgt_vocab: Vocab, src_length: int):
    """Tensors ``(src, src_len, tgt_in, tgt_out)``: characters padded to ``src_length``; the target as
    ``<bos>`` + ISO (decoder input) and ISO + ``<eos>`` (what it must say)."""
    import torch

    src, src_len = encode_padded(src_vocab, [list(t) for t in texts], length=src_length)
    tgt, _ = encode_padded(tgt_vocab, [list(s) for s in isos], bos=True, eos=True, length=ISO_LENGTH + 2)
    return (torch.from_numpy(src), torch.from_numpy(src_len), torch.from_numpy(tgt[:, :-1]).contiguous(),
            torch.from_numpy(tgt[:, 1:]).contiguous())


def position_accuracy(preds: list[str], targets: list[str]) -> list[float]:
    """Share of answers with the right character at each of the ISO form's positions (YYYY-MM-DD)."""
    return [round(float(np.mean([len(p) > i and p[i] == t[i] for p, t in zip(preds, targets)])), 4) for i in range(ISO_LENGTH)]


def summary(exact: dict[str, float]) -> dict:
    """Per model: mean, min and max exact match over its seeds; the goals with the values they judged."""
    table = {m: s for m, s in over_seeds(exact).items() if m in MODELS}
    goals = {}
    if "attention" in table:
        worst = table["attention"]["min"]
        goals["attention_learns"] = {"value": worst, "goal": f"every attention run >= {ATTENTION_GOAL} exact match",
                                     "met": worst >= ATTENTION_GOAL}
    if "plain" in table:
        best = table["plain"]["max"]
        goals["no_attention_does_not"] = {"value": best, "goal": f"every run without attention <= {PLAIN_CEILING} exact match",
                                           "met": best <= PLAIN_CEILING}
    return {"models": table, "goals": goals}


def figure(frame: pd.DataFrame, by_length: pd.DataFrame, attention: np.ndarray, examples: list[int]):
    fig, axes = new_figure(2, 3, figsize=(16, 8.5))
    for model, rows in by_length.groupby("model", sort=False):
        axes[0, 0].plot(rows["length"], rows["exact_match"], marker="o", ms=3, label=model)
    axes[0, 0].set(title="exact match by input length (test, all seeds)", xlabel="characters in the input",
                   ylabel="exact match", ylim=(-0.02, 1.02))
    axes[0, 0].legend(fontsize=8)
    fmt = frame.groupby("format")[[c for c in frame.columns if c.startswith("ok_")]].mean()
    fmt.plot.barh(ax=axes[1, 0], legend=False, fontsize=8)
    axes[1, 0].legend([c.removeprefix("ok_") for c in fmt.columns], fontsize=8, loc="lower right")
    axes[1, 0].set(title="exact match by format (first seed)", xlabel="exact match", ylabel="")
    for ax, i in zip([axes[0, 1], axes[0, 2], axes[1, 1], axes[1, 2]], examples):
        text, pred = frame.loc[i, "input"], frame.loc[i, "pred_attention"]
        weights = attention[i, :len(pred) + 1, :len(text)]
        ax.imshow(weights, cmap="viridis", aspect="auto", vmin=0, vmax=1)
        ax.set_xticks(range(len(text)), list(text), fontsize=7)
        ax.set_yticks(range(len(pred) + 1), list(pred) + ["<eos>"], fontsize=7)
        ax.set_title(f"{text!r} → {pred}", fontsize=9)
    fig.suptitle("date normalisation: attention weights (rows: output characters, columns: input characters)", fontsize=10)
    fig.tight_layout()
    return fig


def main(stage: Declared) -> None:
    import torch

    p = params.load().dates
    run = TrainingRun(stage, p, kind=KIND)
    torch.set_num_threads(1)  # small recurrent layers: one thread is the faster (as sequence-memory, benchmarks/bench_sequence.py)
    texts, isos, _ = generate(np.random.default_rng(run.seed), p.train_examples)
    test_texts, test_isos, test_formats = generate(np.random.default_rng(run.seed + TEST_OFFSET), p.test_examples)
    src_vocab = Vocab.fit([list(t) for t in texts])
    tgt_vocab = Vocab.fit([list(s) for s in isos])
    width = max(len(t) for t in texts + test_texts)
    train = encode(texts, isos, src_vocab, tgt_vocab, width)
    test = encode(test_texts, test_isos, src_vocab, tgt_vocab, width)
    runs = {}
    for model, attention in MODELS.items():
        args = net_args(len(src_vocab), len(tgt_vocab), p.emb, p.hidden, attention)
        for name, seed in seed_names(model, run.seed, p.seeds).items():
            runs[name] = Run(net=lambda a=args: build(a), loss=sequence_loss, seed=seed, data=train, args=args)
    trainer = run.fit(**side_by_side_parts(runs, p.batch_size))

    frame = pd.DataFrame({"input": test_texts, "target": test_isos, "format": test_formats, "length": [len(t) for t in test_texts]})
    exact, lengths, attention_maps, positions = {}, [], None, {}
    for name, net in trainer.models.items():
        ids, weights = greedy(net.cpu(), test[0], test[1], tgt_vocab.index[BOS], ISO_LENGTH + 1)
        preds = ["".join(tgt_vocab.decode(row)) for row in ids.tolist()]
        ok = np.array(preds) == np.array(test_isos)
        exact[name] = float(ok.mean())
        log.info("%s: exact match %.4f on %d test dates", name, exact[name], len(ok))
        lengths.append(pd.DataFrame({"model": variant_of(name), "length": frame["length"], "ok": ok}))
        if name == f"{variant_of(name)}_seed{run.seed}":  # the first seed's answers go into predictions.csv
            frame[f"pred_{variant_of(name)}"], frame[f"ok_{variant_of(name)}"] = preds, ok
            positions[variant_of(name)] = position_accuracy(preds, test_isos)
            if variant_of(name) == "attention":
                attention_maps = weights.numpy()
    by_length = (pd.concat(lengths).groupby(["model", "length"], sort=False)["ok"].agg(["mean", "size"])
                 .reset_index().rename(columns={"mean": "exact_match", "size": "n"}).sort_values(["model", "length"], kind="stable"))
    by_format = {m: frame.groupby("format")[f"ok_{m}"].mean().round(4).to_dict() for m in MODELS}
    result = summary(exact)
    examples = [int(frame.index[frame["format"] == f][0]) for f in ("weekday", "us", "ordinal", "compact") if (frame["format"] == f).any()]
    extra = {"exact_match": exact, **result, "by_format_first_seed": by_format, "by_position_first_seed": positions, "n_train": p.train_examples,
             "n_test": p.test_examples, "formats": list(FORMATS), "src_vocab": len(src_vocab), "tgt_vocab": len(tgt_vocab),
             "test_unknown_rate": src_vocab.unknown_rate([list(t) for t in test_texts])}
    run.finish(extra=extra, figures={"dates.png": figure(frame, by_length, attention_maps, examples)},
               write=lambda out: (out.text(stage.out("predictions.csv"), frame.to_csv(index=False)),
                                  out.text(stage.out("by_length.csv"), by_length.to_csv(index=False))))


if __name__ == "__main__":
    run_stage(main)
