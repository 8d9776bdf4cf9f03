"""Stage `nlp-evaluate`: test accuracy with a bootstrap 95% interval, the TF-IDF baseline, attention.

- The classifier's accuracy on the test split, with a percentile bootstrap interval (test reviews
  resampled with replacement, ``nlp.evaluate.resamples`` times, seeded by ``common.seed``): the
  embedded test split is small and its interval wide.
- The baseline: TF-IDF + logistic regression (scikit-learn) fitted on the same train split and
  scored on the same test split, from the same ids (the same vocabulary, ``<unk>`` and truncation),
  with its own interval.
- The confusion matrix (``confusion.csv`` for ``dvc plots``), per-review predictions.
- The attention from ``<cls>`` (row 0 of each block's weights, each row divided by its maximum) over
  the tokens of the first correctly and the first wrongly classified test review: an HTML page in
  which each token's background is its weight, as in the book, and a PNG of the same.
"""
from __future__ import annotations

import html
import logging

import numpy as np
import torch

from stages.core.checkpoint import load_models
from stages.core.classify import bootstrap_accuracy, confusion_matrix
from stages.core.figures import new_figure
from stages.core.io import read_json
from stages.core.params import load_common
from stages.core.runtime import run_stage
from stages.core.stage import Declared
from stages.core.device import setup_torch
from stages.nlp import params
from stages.nlp.nets import KIND, build
from stages.nlp.token_ids import CLS_ID, EOS_ID, PAD_ID, Vocab

log = logging.getLogger(__name__)

SHOW_TOKENS = 60  # tokens per row in the PNG (the HTML shows all)


@torch.no_grad()
def predict(net, ids: torch.Tensor, device, batch_size: int = 256) -> tuple[np.ndarray, list[np.ndarray]]:
    """Positive-class probabilities (N,) and each block's attention row of ``<cls>`` (N, T)."""
    probs, rows = [], []
    for start in range(0, len(ids), batch_size):
        logits, maps = net(ids[start:start + batch_size].to(device))
        probs.append(torch.softmax(logits.float(), dim=1)[:, 1].cpu())
        rows.append([m[:, 0].float().cpu() for m in maps])  # (b, T) per block
    return torch.cat(probs).numpy(), [torch.cat([r[b] for r in rows]).numpy() for b in range(len(rows[0]))]


def id_documents(ids: np.ndarray) -> list[str]:
    """Each id row as a text of word ids (no padding, ``<cls>`` or ``<eos>``) for the TF-IDF baseline."""
    keep = (ids != PAD_ID) & (ids != CLS_ID) & (ids != EOS_ID)
    return [" ".join(map(str, row[m])) for row, m in zip(ids, keep)]


def tfidf_baseline(train_ids: np.ndarray, train_y: np.ndarray, test_ids: np.ndarray, seed: int) -> np.ndarray:
    """TF-IDF (unigrams and bigrams of word ids) + logistic regression; the test predictions (N,)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vec = TfidfVectorizer(token_pattern=r"\S+", ngram_range=(1, 2), sublinear_tf=True)
    model = LogisticRegression(max_iter=2000, random_state=seed)
    model.fit(vec.fit_transform(id_documents(train_ids)), train_y)
    return model.predict(vec.transform(id_documents(test_ids)))


def cls_attention(tokens: list[str], rows: list[np.ndarray]) -> list[np.ndarray]:
    """Each block's ``<cls>`` row over the review's tokens (padding dropped), divided by the row's maximum."""
    return [r[: len(tokens)] / max(float(r[: len(tokens)].max()), 1e-12) for r in rows]


def attention_html(examples: list[dict]) -> str:
    """The book's visualisation: one paragraph per block, each token on a red background of its weight."""
    parts = ["<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>nlp: attention from &lt;cls&gt;</title></head>"
             "<body style=\"font-family: sans-serif; max-width: 60em\">\n"
             "<h1>Attention of &lt;cls&gt; over the review</h1>\n<p>Each block's attention row of the &lt;cls&gt; "
             "token, divided by its maximum: the redder, the more weight.</p>\n"]
    for ex in examples:
        verdict = "correct" if ex["label"] == ex["pred"] else "wrong"
        parts.append(f"<h2>{verdict}: test review {ex['index']}</h2>\n<p>label {_name(ex['label'])}, predicted "
                     f"{_name(ex['pred'])} (p(positive) = {ex['prob']:.3f})</p>\n")
        for b, weights in enumerate(ex["weights"], start=1):
            spans = " ".join(f'<span style="background-color: rgba(255,0,0,{w:.3f})">{html.escape(t)}</span>'
                             for t, w in zip(ex["tokens"], weights))
            parts.append(f"<p><b>block {b}</b><br>\n{spans}</p>\n")
    parts.append("</body></html>\n")
    return "".join(parts)


def _name(label: int) -> str:
    return "positive" if label == 1 else "negative"


def attention_figure(examples: list[dict]):
    """One heat strip per example and block: the first tokens and their normalised weights."""
    rows = [(ex, b, w) for ex in examples for b, w in enumerate(ex["weights"], start=1)]
    n = max(min(len(ex["tokens"]), SHOW_TOKENS) for ex in examples)
    # constrained layout leaves room for each row's rotated token labels and the shared colour bar
    fig, axes = new_figure(len(rows), 1, figsize=(max(6.0, 0.2 * n), 1.9 * len(rows)), squeeze=False, layout="constrained")
    for ax, (ex, b, w) in zip(axes[:, 0], rows):
        k = min(len(ex["tokens"]), SHOW_TOKENS)
        image = ax.imshow(w[None, :k], cmap="Reds", vmin=0, vmax=1, aspect="auto")
        ax.set_yticks([])
        ax.set_xticks(range(k), ex["tokens"][:k], rotation=90, fontsize=7)
        verdict = "correct" if ex["label"] == ex["pred"] else "wrong"
        ax.set_title(f"{verdict}: review {ex['index']}, label {_name(ex['label'])}, predicted {_name(ex['pred'])} "
                     f"- block {b}", fontsize=8, loc="left")
    fig.colorbar(image, ax=list(axes[:, 0]), fraction=0.02, label="weight / row max")
    return fig


def pick_examples(y: np.ndarray, pred: np.ndarray) -> list[int]:
    """The first correctly and the first wrongly classified test review (one only when none is wrong)."""
    right, wrong = np.flatnonzero(y == pred), np.flatnonzero(y != pred)
    return [int(a[0]) for a in (right, wrong) if len(a)]


def main(stage: Declared) -> None:
    evaluate_params, common = params.load().evaluate, load_common()
    device = setup_torch(common.seed, common.device)
    vocab = Vocab.from_json(read_json(stage.dep("vocab.json")))
    with np.load(stage.dep("ids.npz")) as z:
        arrays = {k: z[k] for k in z.files}
    (net,), _ = load_models(stage.dep("model.pt"), KIND, build, ("net",), device)
    y = arrays["test_y"]
    prob, rows = predict(net, torch.from_numpy(arrays["test_ids"]), device)
    pred = (prob >= 0.5).astype(np.int64)
    correct = pred == y
    base = tfidf_baseline(arrays["train_ids"], arrays["train_y"], arrays["test_ids"], common.seed)
    metrics = {"n_test": len(y)}
    for name, guess in (("transformer", pred), ("tfidf_logreg", base)):
        ok = guess == y
        low, high = bootstrap_accuracy(ok, evaluate_params.resamples, common.seed)
        metrics[name] = {"accuracy": float(ok.mean()), "accuracy_low": low, "accuracy_high": high,
                         "confusion": confusion_matrix(y, guess, 2).tolist()}  # rows actual, columns predicted
    metrics["majority_class_accuracy"] = float(max(y.mean(), 1 - y.mean()))
    log.info("test accuracy: transformer %.3f [%.3f, %.3f], tf-idf + logistic regression %.3f [%.3f, %.3f] (n = %d)",
             *(metrics["transformer"][k] for k in ("accuracy", "accuracy_low", "accuracy_high")),
             *(metrics["tfidf_logreg"][k] for k in ("accuracy", "accuracy_low", "accuracy_high")), len(y))
    examples = []
    for i in pick_examples(y, pred):
        tokens = [t for t in vocab.decode(arrays["test_ids"][i]) if t != "<pad>"]
        examples.append({"index": i, "label": int(y[i]), "pred": int(pred[i]), "prob": float(prob[i]), "tokens": tokens,
                         "weights": cls_attention(tokens, [r[i] for r in rows])})
    predictions = "index,label,predicted,prob_positive,baseline\n" + "".join(
        f"{i},{int(y[i])},{int(pred[i])},{prob[i]:.6f},{int(base[i])}\n" for i in range(len(y)))
    matrix = "actual,predicted\n" + "".join(f"{_name(int(a))},{_name(int(b))}\n" for a, b in zip(y, pred))
    with stage.outputs() as out:
        out.json(stage.out("metrics.json"), metrics)
        out.text(stage.out("predictions.csv"), predictions)
        out.text(stage.out("confusion.csv"), matrix)
        out.text(stage.out("attention.html"), attention_html(examples))
        out.figure(stage.out("attention.png"), attention_figure(examples))


if __name__ == "__main__":
    run_stage(main)
