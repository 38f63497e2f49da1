"""The numbers printed in the lecture notes' worked examples, in one place for the lessons and
the tests that check minidl against them.

The "loopy pattern" demo (the lecture on convolutional networks): two 7x5 images of +-1 pixels,
a hand-drawn "9" and a "6"-like shape, convolved with a 3x3 filter, then ReLU, then 2x2
max-pooling with stride 1. The slides print the maps cut to two decimals (-5/9 as -0.55).
"""
import numpy as np

DEMO_INPUTS = [
    np.array([[-1, 1, 1, 1, -1],
              [-1, 1, -1, 1, -1],
              [-1, 1, 1, 1, -1],
              [-1, -1, -1, 1, -1],
              [-1, -1, -1, 1, -1],
              [-1, -1, 1, -1, -1],
              [-1, 1, -1, -1, -1]], dtype=float),
    np.array([[1, 1, 1, -1, -1],
              [1, -1, 1, -1, -1],
              [1, 1, 1, -1, -1],
              [-1, -1, 1, -1, -1],
              [-1, -1, 1, -1, -1],
              [-1, 1, -1, -1, -1],
              [1, -1, -1, -1, -1]], dtype=float),
]
PRINTED_FEATURE_MAPS = [
    np.array([[-0.11, 1, -0.11], [-0.55, 0.11, -0.33], [-0.33, 0.33, -0.33],
              [-0.22, -0.11, -0.22], [-0.33, -0.33, -0.33]]),
    np.array([[1, -0.11, -0.11], [0.11, -0.33, 0.33], [0.33, -0.33, -0.33],
              [-0.11, -0.55, -0.33], [-0.55, -0.33, -0.55]]),
]
PRINTED_RELU = [
    np.array([[0, 1, 0], [0, 0.11, 0], [0, 0.33, 0], [0, 0, 0], [0, 0, 0]]),
    np.array([[1, 0, 0], [0.11, 0, 0.33], [0.33, 0, 0], [0, 0, 0], [0, 0, 0]]),
]
PRINTED_POOLED = [
    np.array([[1, 1], [0.33, 0.33], [0.33, 0.33], [0, 0]]),
    np.array([[1, 0.33], [0.33, 0.33], [0.33, 0], [0, 0]]),
]
LOOPY_FILTER = np.full((3, 3), 1 / 9)   # the "loopy pattern": 1/9 everywhere, -1/9 at the centre
LOOPY_FILTER[1, 1] = -1 / 9
