"""Stage `sequence-evaluate`: every translator of ``sequence-translate`` decoded on the test split.

Each run decodes the test sources greedily and with beam search (``beam`` beams, hypotheses ranked
by ``log p / length^length_penalty``), at most ``max_steps`` tokens. Scores, against the test split's
own target tokens (words the vocabulary lacks count as misses):

- **BLEU**: corpus BLEU-4 of torchmetrics (``torchmetrics.functional.text.bleu_score``: uniform n-gram
  weights, brevity penalty, no smoothing) on this project's tokens (Janome's for Japanese), × 100;
- **exact match**: the share of hypotheses equal to the reference token for token;
- BLEU by the source's length (its tokens, in bands).

Goal (the lesson): attention beats no attention in beam BLEU on every seed (run ``attention_seedS``
against ``plain_seedS``). The Transformer is reported beside them.

Outputs: ``metrics.json`` (per run and per model over seeds: BLEU greedy and beam, exact match; BLEU
by length; the goal; sample translations, right and wrong), ``translations.csv`` (every test
sentence, its reference and each first-seed model's beam translation), ``by_length.csv``,
``evaluate.png`` (BLEU by model and by length, and the attention model's weights on four test
sentences).
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from stages.core.figures import new_figure
from stages.core.fonts import japanese_font
from stages.core.runtime import run_stage
from stages.core.side_by_side import over_seeds, variant_of
from stages.core.stage import Declared
from stages.sequence import params
from stages.sequence.parallel import languages, load_split
from stages.sequence.translators import KIND, beam_search, build, greedy
from stages.sequence.vocab import BOS, EOS

log = logging.getLogger(__name__)
LENGTH_BANDS = ((1, 6), (7, 9), (10, 12), (13, 15), (16, 10_000))  # source tokens, inclusive
HEATMAPS = 4


def load_translators(path: Path) -> dict:
    """Every network of a ``sequence-translate`` checkpoint, by run name, in eval mode with frozen weights.

    Raises:
        DataError: one line naming the file when it is missing, corrupted, not this project's
            checkpoint or of another kind.
    """
    from stages.core.checkpoint import load_checkpoint, load_models

    specs = load_checkpoint(path, kind=KIND)["model_args"]["nets"]
    names = tuple(specs)
    nets, _ = load_models(path, KIND, lambda a: [build(a["nets"][n]) for n in names], names)
    return dict(zip(names, nets))


def bleu(hypotheses: list[list[str]], references: list[list[str]]) -> float:
    """Corpus BLEU-4 × 100 (torchmetrics), one reference per sentence."""
    from torchmetrics.functional.text import bleu_score

    if not hypotheses:
        return float("nan")
    return round(100 * float(bleu_score([" ".join(h) for h in hypotheses], [[" ".join(r)] for r in references])), 3)


def band_of(length: int) -> str:
    return next(f"{lo}-{hi}" if hi < 10_000 else f"{lo}+" for lo, hi in LENGTH_BANDS if lo <= length <= hi)


def goal(beam_bleu: dict[str, float]) -> dict:
    """Attention against no attention, seed by seed, in beam BLEU."""
    seeds = sorted({name.rsplit("_seed", 1)[1] for name in beam_bleu if variant_of(name) in ("attention", "plain")})
    pairs = {s: (beam_bleu.get(f"attention_seed{s}"), beam_bleu.get(f"plain_seed{s}")) for s in seeds}
    pairs = {s: (a, b) for s, (a, b) in pairs.items() if a is not None and b is not None}
    if not pairs:
        return {}
    margins = {s: round(a - b, 3) for s, (a, b) in pairs.items()}
    return {"attention_beats_plain": {"value": margins, "goal": "attention's beam BLEU above plain's on every seed",
                                      "met": all(m > 0 for m in margins.values())}}


def samples(frame: pd.DataFrame, model: str, n: int) -> list[dict]:
    """Up to ``n`` test sentences in order, half that ``model`` got exactly right and half it did not."""
    right = frame[frame[f"exact_{model}"]].head(n // 2)
    wrong = frame[~frame[f"exact_{model}"]].head(n - len(right))
    cols = ["source", "reference", *[c for c in frame.columns if c.startswith("beam_")]]
    return [{k: row[k] for k in cols} | {"right": bool(row[f"exact_{model}"])} for _, row in pd.concat([right, wrong]).sort_index().iterrows()]


def text_font(language: str, size: float) -> dict:
    """Keyword arguments for a text in ``language`` at ``size`` points: Japanese needs a font with its glyphs."""
    if language != "ja":
        return {"fontsize": size}
    font = japanese_font().copy()
    font.set_size(size)
    return {"fontproperties": font}


def figure(table: dict, by_length: pd.DataFrame, maps: list[tuple[list[str], list[str], np.ndarray, list[str]]], source_language: str,
           target_language: str):
    fig, axes = new_figure(2, 3, figsize=(16, 9))
    models = list(table)
    x = np.arange(len(models))
    for i, (key, label) in enumerate((("bleu_greedy", "greedy"), ("bleu_beam", "beam"))):
        means = [table[m][key]["mean"] for m in models]
        spread = np.array([[table[m][key]["mean"] - table[m][key]["min"] for m in models], [table[m][key]["max"] - table[m][key]["mean"] for m in models]])
        axes[0, 0].bar(x + (i - 0.5) * 0.38, means, 0.38, yerr=spread, capsize=3, label=label)
    axes[0, 0].set_xticks(x, models)
    axes[0, 0].set(title="test BLEU (mean; bars: range over seeds)", ylabel="BLEU")
    axes[0, 0].legend(fontsize=8)
    for model, rows in by_length.groupby("model", sort=False):
        axes[1, 0].plot(rows["band"], rows["bleu"], marker="o", ms=3, label=model)
    axes[1, 0].set(title="beam BLEU by source length (mean over seeds)", xlabel=f"{source_language} tokens", ylabel="BLEU")
    axes[1, 0].legend(fontsize=8)
    for ax, (src, out, weights, reference) in zip([axes[0, 1], axes[0, 2], axes[1, 1], axes[1, 2]], maps):
        ax.imshow(weights, cmap="viridis", aspect="auto", vmin=0, vmax=1)
        ax.set_title(f"reference: {' '.join(reference)}", **text_font(target_language, 8))
        ax.set_xticks(range(len(src)), src, rotation=90, **text_font(source_language, 7))
        ax.set_yticks(range(len(out)), out, **text_font(target_language, 7))
    for ax in [axes[0, 1], axes[0, 2], axes[1, 1], axes[1, 2]][len(maps):]:
        ax.axis("off")
    fig.suptitle("translation: attention weights of the attention model, greedy decoding (rows: output tokens, columns: source tokens)",
                 fontsize=10)
    fig.tight_layout()
    return fig


def main(stage: Declared) -> None:
    import torch

    p, translate = params.load().evaluate, params.load().translate
    torch.set_num_threads(1)
    source_language, target_language = languages(translate.direction)
    src_vocab, tgt_vocab, src_tokens, references, (src, src_len, _, _) = load_split(stage.dep("pairs"), "test", translate.direction)
    nets = load_translators(stage.dep("model.pt"))
    bos, eos = tgt_vocab.index[BOS], tgt_vocab.index[EOS]
    frame = pd.DataFrame({"source": [" ".join(s) for s in src_tokens], "reference": [" ".join(r) for r in references],
                          "length": [len(s) for s in src_tokens]})
    frame["band"] = frame["length"].map(band_of)
    scores: dict[str, dict[str, float]] = {"bleu_greedy": {}, "bleu_beam": {}, "exact_greedy": {}, "exact_beam": {}}
    lengths, maps = [], []
    first_seed = min(int(n.rsplit("_seed", 1)[1]) for n in nets)
    for name, net in nets.items():
        ids, weights = greedy(net, src, src_len, bos, eos, p.max_steps)
        hyp_greedy = [tgt_vocab.decode(row) for row in ids.tolist()]
        hyp_beam = hyp_greedy if p.beam == 1 else [tgt_vocab.decode(row) for row in
                                                   beam_search(net, src, src_len, bos, eos, p.max_steps, p.beam, p.length_penalty).tolist()]
        for kind, hyps in (("greedy", hyp_greedy), ("beam", hyp_beam)):
            scores[f"bleu_{kind}"][name] = bleu(hyps, references)
            scores[f"exact_{kind}"][name] = round(float(np.mean([h == r for h, r in zip(hyps, references)])), 4)
        log.info("%s: BLEU %.2f greedy, %.2f beam %d; exact match %.3f (beam)", name, scores["bleu_greedy"][name], scores["bleu_beam"][name],
                 p.beam, scores["exact_beam"][name])
        for band, rows in frame.groupby("band", sort=False):
            lengths.append({"model": variant_of(name), "run": name, "band": band, "sentences": len(rows),
                            "bleu": bleu([hyp_beam[i] for i in rows.index], [references[i] for i in rows.index])})
        if name.endswith(f"_seed{first_seed}"):
            model = variant_of(name)
            frame[f"beam_{model}"] = [" ".join(h) for h in hyp_beam]
            frame[f"exact_{model}"] = [h == r for h, r in zip(hyp_beam, references)]
            if model == "attention":
                chosen = [i for i in range(len(frame)) if 6 <= frame.loc[i, "length"] <= 12][:HEATMAPS]
                for i in chosen:
                    out = tgt_vocab.decode(ids[i].tolist())
                    maps.append((src_tokens[i], out + [EOS], weights[i, :len(out) + 1, :len(src_tokens[i])].numpy(), references[i]))
    order = {band_of(lo): k for k, (lo, _) in enumerate(LENGTH_BANDS)}
    by_length = (pd.DataFrame(lengths).groupby(["model", "band"], sort=False).agg(bleu=("bleu", "mean"), sentences=("sentences", "first"))
                 .reset_index())
    by_length = by_length.sort_values(["model", "band"], key=lambda c: c.map(order) if c.name == "band" else c, kind="stable")
    by_length["bleu"] = by_length["bleu"].round(3)
    table = {}
    for key, values in scores.items():
        for model, stats in over_seeds(values).items():
            table.setdefault(model, {})[key] = {k: round(v, 4) if isinstance(v, float) else v for k, v in stats.items()}
    showcase = "attention" if "exact_attention" in frame else variant_of(next(iter(nets)))
    metrics = {"direction": translate.direction, "test_pairs": len(frame), "beam": p.beam, "length_penalty": p.length_penalty,
               "runs": scores, "models": table, "goals": goal(scores["bleu_beam"]),
               "bleu": "corpus BLEU-4 x 100, torchmetrics bleu_score, one reference, this project's tokens",
               "by_length": {m: dict(zip(r["band"], r["bleu"])) for m, r in by_length.groupby("model", sort=False)},
               "samples": samples(frame, showcase, p.examples),
               "test_unknown_rate": {"source": src_vocab.unknown_rate(src_tokens), "target": tgt_vocab.unknown_rate(references)}}
    with stage.outputs() as out:
        out.json(stage.out("metrics.json"), metrics)
        out.path(stage.out("translations.csv")).write_bytes(frame.drop(columns=["band"]).to_csv(index=False).encode())
        out.text(stage.out("by_length.csv"), by_length.to_csv(index=False))
        out.figure(stage.out("evaluate.png"), figure(table, by_length, maps, source_language, target_language))


if __name__ == "__main__":
    run_stage(main)
