"""The networks the unit tests build: the sizes calibrated for 1x8x8 digits (params.yaml's
``compress`` section holds the ones the pipeline uses)."""
from stages.compress.nets import CNNConfig

TEACHER = CNNConfig(channels=(32, 128, 256))
STUDENT = CNNConfig(channels=(16, 64, 128))
SEPARABLE_STUDENT = CNNConfig(channels=(16, 64, 128), separable=True)
