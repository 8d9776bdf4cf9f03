"""The ``audio`` pipeline (course 1-2): decode, features, format conversion and effects of audio clips.

download -> decode (rates, first-second cut, waveforms) / features (RMS, FFT, STFT, mel) /
convert (WAV, FLAC, MP3 sizes) / effects (pitch shift, time stretch, VTLN, clipping).
Every stage walks the clips one at a time, so memory is bounded by the longest clip.
"""
