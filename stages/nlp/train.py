"""Stage `nlp-train`: the Transformer classifier on the train split, validated every epoch.

The embedding is the word vectors of `nlp-vectors`, frozen as in the book (or fine-tuned with
``nlp.train.freeze_embedding: false``); the rest (attention, FFN, LayerNorms,
head) is trained with Adam on the core training stage. Outputs: the self-describing checkpoint (the
vectors are in it, so evaluation needs nothing else), per-epoch loss and validation accuracy for
`dvc plots`, and training metrics. Reviews per second go to the run record
(``.reprolab/runs/nlp-train.json``), never into an output. A killed run resumes from its last epoch.
"""
from __future__ import annotations

import logging

import numpy as np
import torch

from stages.core.errors import DataError
from stages.core.io import require_file
from stages.core.runtime import run_stage
from stages.core.stage import Declared
from stages.core.batches import TensorData
from stages.core.training import TrainingRun
from stages.nlp import params
from stages.core.classify import Classification
from stages.nlp.nets import KIND, TransformerClassifier, TransformerConfig
from stages.nlp.params import TrainParams
from stages.nlp.token_ids import SPECIALS

log = logging.getLogger(__name__)


def load_arrays(ids_path, embedding_path) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """The ids/labels of every split and the (V, d) embedding, checked against each other."""
    with np.load(require_file(ids_path)) as z:
        arrays = {k: torch.from_numpy(z[k]) for k in z.files}
    with np.load(require_file(embedding_path)) as z:
        vectors = torch.from_numpy(z["vectors"])
    top = max(int(arrays[k].max()) for k in ("train_ids", "val_ids", "test_ids") if arrays[k].numel())
    if top >= len(vectors):
        raise DataError(f"{embedding_path}: {len(vectors)} vectors but {ids_path} uses id {top}; rerun nlp-vectors (dvc repro)")
    return arrays, vectors


def check_frozen_vectors(vectors: torch.Tensor, frozen: bool, where) -> None:
    """Refuse frozen word vectors that are all zero (the specials excepted): every input would be the
    positional encoding alone, and nothing could be learnt from the words.

    Raises:
        DataError: ``where`` (the embedding file) and what to change.
    """
    if frozen and not bool(vectors[len(SPECIALS):].any()):
        raise DataError(f"{where}: every word vector is zero and nlp.train.freeze_embedding is true: the classifier "
                        "would see no word; use vectors that cover the vocabulary or set freeze_embedding: false")


def cpu_threads(threads: int) -> int:
    """Set PyTorch's CPU threads (``0`` leaves its default, one per core) and return the number in use.

    A model as small as the default gains nothing from a second thread, and on a busy host the
    threads' waiting for each other costs far more than the arithmetic (docs/nlp.md: 10-40x slower
    steps with two threads on a loaded 2-core host). Results do not depend on it.
    """
    if threads:
        torch.set_num_threads(threads)
    return torch.get_num_threads()


def classifier_parts(cfg: TransformerConfig, vectors: torch.Tensor, train_params: TrainParams) -> dict:
    """What the run declares: the classifier (its embedding ``vectors``, frozen or not), its
    objective and validation step, its config."""

    def models() -> dict[str, torch.nn.Module]:
        net = TransformerClassifier(cfg)
        with torch.no_grad():
            net.embed.weight.copy_(vectors)
        net.embed.weight.requires_grad_(not train_params.freeze_embedding)  # Adam skips a parameter that never gets a gradient
        return {"net": net}

    def logits_of(out):
        return out[0]  # (logits, attention maps)

    return {"models": models, "model_args": cfg.as_dict(), "objective": lambda nets: Classification(nets["net"], logits_of=logits_of),
            "val_step": lambda nets: Classification(nets["net"], logits_of=logits_of).validate}


def main(stage: Declared) -> None:
    train_params = params.load().train
    cpu_threads(train_params.threads)
    run = TrainingRun(stage, train_params, kind=KIND)
    arrays, vectors = load_arrays(stage.dep("ids.npz"), stage.dep("embedding.npz"))
    check_frozen_vectors(vectors, train_params.freeze_embedding, stage.dep("embedding.npz"))
    cfg = TransformerConfig(vocab=len(vectors), d_model=vectors.shape[1], max_len=arrays["train_ids"].shape[1],
                            blocks=train_params.blocks, ffn=train_params.ffn, dropout=train_params.dropout)
    train = TensorData(arrays["train_ids"], arrays["train_y"])
    val = TensorData(arrays["val_ids"], arrays["val_y"])
    trainer = run.fit(**classifier_parts(cfg, vectors, train_params), data=train, val=val,
                      inputs={"ids": stage.dep("ids.npz"), "embedding": stage.dep("embedding.npz")})
    run.finish(extra={"n_train": len(train), "n_val": len(val), "d_model": cfg.d_model, "vocab": cfg.vocab,
                      "trainable_parameters": sum(q.numel() for q in trainer.models["net"].parameters() if q.requires_grad)},
               record={"reviews_per_s": trainer.run_record()["images_per_s"]})


if __name__ == "__main__":
    run_stage(main)
