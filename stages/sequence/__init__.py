"""The ``sequence`` pipeline: recurrent networks from the study notes' numpy RNN (BPTT by hand, exploding
and vanishing gradients, clipping) to the long-range memory of LSTM and GRU (docs/sequence.md)."""
