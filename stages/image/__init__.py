"""The `image` pipeline (course 1-1): decode → inspect, transforms, scramble, ycbcr."""
