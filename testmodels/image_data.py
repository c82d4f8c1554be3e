#!/usr/bin/python3
"""Render deterministic 224 x 224 RGB inputs for the torchvision classifiers.

    /usr/bin/python3 testmodels/image_data.py OUTDIR

Each image is a Fashion-MNIST picture (Debian's dataset-fashion-mnist)
upscaled bilinearly to a random size between 120 and 224 pixels, tinted with a
random colour and pasted at a random place on a random smooth colour
gradient, so activations see edges, flat areas and colour like photographs
do. Normalised as torchvision's ImageNet models expect: RGB,
x = (pixel/255 - (0.485, 0.456, 0.406)) / (0.229, 0.224, 0.225), NCHW.

Files (float32, first axis = sample):
  calib.npy  64 x 3 x 224 x 224  from training images (seed 1)
  eval.npy   32 x 3 x 224 x 224  from test images (seed 2)
Made on first use by internal/oracle.ImageData into testmodels/generated/images.
"""
import gzip
import os
import random
import sys

import numpy as np
from PIL import Image

DATA = "/usr/share/datasets/fashion-mnist"
MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)


def idx_images(name):
    with gzip.open(os.path.join(DATA, name), "rb") as f:
        b = f.read()
    n, h, w = (int.from_bytes(b[4 + 4 * i:8 + 4 * i], "big") for i in range(3))
    return np.frombuffer(b, np.uint8, offset=16).reshape(n, h, w)


def image(rng, pic):
    c0 = np.array([rng.randint(0, 255) for _ in range(3)], np.float32)
    c1 = np.array([rng.randint(0, 255) for _ in range(3)], np.float32)
    t = np.linspace(0, 1, 224, dtype=np.float32)
    ramp = t[:, None] if rng.random() < 0.5 else t[None, :]
    bg = c0 + (c1 - c0) * ramp[..., None]
    bg = np.broadcast_to(bg, (224, 224, 3)).copy()
    size = rng.randint(120, 224)
    fg = np.asarray(Image.fromarray(pic).resize((size, size), Image.BILINEAR), np.float32) / 255.0
    tint = np.array([rng.randint(30, 255) for _ in range(3)], np.float32)
    y, x = rng.randint(0, 224 - size), rng.randint(0, 224 - size)
    region = bg[y:y + size, x:x + size]
    bg[y:y + size, x:x + size] = region * (1 - fg[..., None]) + tint * fg[..., None]
    return ((bg / 255.0 - MEAN) / STD).transpose(2, 0, 1)


def make(images, n, seed):
    rng = random.Random(seed)
    picks = [rng.randrange(len(images)) for _ in range(n)]
    return np.stack([image(rng, images[i]) for i in picks]).astype(np.float32)


def main(argv):
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    out = argv[0]
    os.makedirs(out, exist_ok=True)
    for name, src, n, seed in (("calib.npy", "train-images-idx3-ubyte.gz", 64, 1),
                               ("eval.npy", "t10k-images-idx3-ubyte.gz", 32, 2)):
        tmp = os.path.join(out, name + ".tmp.npy")
        np.save(tmp, make(idx_images(src), n, seed))
        os.replace(tmp, os.path.join(out, name))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
