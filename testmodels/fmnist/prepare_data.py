#!/usr/bin/python3
"""Write the bundled Fashion-MNIST samples next to this script:

  calib.npy        512 training images (seeded random choice), float32 N,1,28,28
  test.npy         the first 1000 images of the official test set (never trained on)
  test_labels.npy  their labels, int64

Pixels are normalised as the models expect: (x/255 - 0.2860) / 0.3530.
"""
import os

import numpy as np

import fmnist


def main():
    xtr, _ = fmnist.load("train")
    xte, yte = fmnist.load("test")
    idx = np.random.default_rng(0).choice(len(xtr), 512, replace=False)
    np.save(os.path.join(fmnist.HERE, "calib.npy"), xtr[np.sort(idx)])
    np.save(os.path.join(fmnist.HERE, "test.npy"), xte[:1000])
    np.save(os.path.join(fmnist.HERE, "test_labels.npy"), yte[:1000])


if __name__ == "__main__":
    main()
