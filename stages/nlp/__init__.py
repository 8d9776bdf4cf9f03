"""Course 2-7: tokenize → vocabulary → word vectors → Transformer classifier → attention."""
