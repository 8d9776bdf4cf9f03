"""The course check's stand-ins for nlp (``python -m pipelines course-check nlp``).

The course downloads IMDb (``aclImdb_v1.tar.gz``, md5-checked) and fastText's English vectors
(``wiki-news-300d-1M.vec.zip``); offline, files of the same layouts are served from 127.0.0.1: an
``aclImdb`` tarball of gensim's labelled sentences (50 reviews per split and label) and a ``.vec.zip``
of random 300-d vectors for their words. The book's Transformer (300-d frozen vectors, 256 tokens,
its optimiser and batch size) stays; only the epochs shrink. The course sets nothing of the Japanese
word vectors (``nlp-japanese``), so the check runs them at their default sizes on the project's own
16-line story instead of two of Sōseki's novels (Janome takes 15 s of CPU over the novels, and
`make repro` runs them): a neighbour or analogy word the story lacks is reported missing, as it would be.
"""
from __future__ import annotations

import re
from typing import Any

PER_SPLIT_LABEL = 50

CAPS: dict[str, Any] = {
    "nlp.train.epochs": 1,
    "nlp.download.japanese.source": "story",
}


def standins(kit) -> dict[str, Any]:
    from stages.core.standins import aclimdb_tarball, polarity_sentences, vec_zip

    imdb = kit.put("aclImdb_v1.tar.gz", aclimdb_tarball(PER_SPLIT_LABEL))
    words = sorted({w for text, _ in polarity_sentences() for w in re.findall(r"[\w']+|[^\w\s]", text.lower())})
    vec = kit.put("wiki-news-300d-1M.vec.zip", vec_zip("wiki-news-300d-1M.vec", words, 300, kit.seed))
    return {"nlp.download.url": imdb.url, "nlp.download.md5": imdb.md5,
            "nlp.vectors.url": vec.url, "nlp.vectors.sha256": vec.sha256}
