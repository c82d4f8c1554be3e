#!/usr/bin/python3
"""Render deterministic inputs for the PP-OCR models (det, rec, cls).

    /usr/bin/python3 testmodels/ppocr_data.py OUTDIR

Text is drawn with PIL in Debian's DejaVu fonts (fonts-dejavu-core: Sans,
Sans Bold, Serif, Serif Bold, Sans Mono, Sans Mono Bold) from a seeded
generator of English words, numbers, dates, prices and codes; the same
OUTDIR contents come out on every run. Nothing here is committed: tests make
it on first use (internal/oracle.PPOCRData) in testmodels/generated/ppocr.

Preprocessing (as PaddleOCR's own inference does; channels are in BGR order
like its cv2-read images, although the renders are nearly grey):

  rec  (ch_PP-OCRv4_rec_infer.onnx, input x: N x 3 x 48 x W):
       line image resized to height 48 keeping its aspect ratio, width
       min(320, ceil(48 * w / h)); x = (pixel/255 - 0.5) / 0.5; padded on the
       right to width 320 with 0 (PaddleOCR's resize_norm_img). 3 x 48 x 320.
  cls  (ch_ppocr_mobile_v2.0_cls_infer.onnx, input x: N x 3 x 48 x 192):
       the same with width 192; half the lines are rotated by 180 degrees
       (label 1) and half are upright (label 0).
  det  (ch_PP-OCRv4_det_infer.onnx, input x: N x 3 x H x W):
       a 640 x 640 page with 6-12 text lines of random size, colour and
       position on a light background; x = (pixel/255 - mean) / std with
       ImageNet mean (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225)
       applied per channel index to the BGR image (PaddleOCR's NormalizeImage
       does exactly this). 3 x 640 x 640.

Files (float32 .npy, first axis = sample):
  rec_calib.npy (128), rec_eval.npy (200) + rec_eval.json (the rendered strings)
  cls_calib.npy (128), cls_eval.npy (100) + cls_eval_labels.npy (int64)
  det_calib.npy (16),  det_eval.npy (4)
Calibration and evaluation sets use different seeds (no overlap).
"""
import json
import math
import os
import random
import sys

import numpy as np
from PIL import Image, ImageDraw, ImageFont

FONT_DIR = "/usr/share/fonts/truetype/dejavu"
FONTS = ["DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf",
         "DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf"]

WORDS = """the of and to in is was for on that with as by at from his her an were are which this
be or had not but first one their its new after who they have two has been other also into more
over only years many most time some would these then made than later while during where when out
state world city year under between well until three since used both about part all before school
second known team such film through following people found being several including name early
series north south east west river high life work number national group music city house world
invoice total amount order date price quantity item delivery address phone email account balance
station street road avenue market office library garden bridge tower museum hotel airport center
open close exit entrance parking floor room gate platform ticket service hours daily weekly""".split()


def font(rng, size):
    return ImageFont.truetype(os.path.join(FONT_DIR, rng.choice(FONTS)), size)


def phrase(rng, most):
    parts = []
    for _ in range(rng.randint(1, most)):
        r = rng.random()
        if r < 0.65:
            w = rng.choice(WORDS)
            parts.append(w.capitalize() if rng.random() < 0.3 else (w.upper() if rng.random() < 0.1 else w))
        elif r < 0.75:
            parts.append(str(rng.randint(0, 99999)))
        elif r < 0.83:
            parts.append("%04d-%02d-%02d" % (rng.randint(1990, 2030), rng.randint(1, 12), rng.randint(1, 28)))
        elif r < 0.91:
            parts.append("$%d.%02d" % (rng.randint(0, 999), rng.randint(0, 99)))
        else:
            parts.append("%s%d" % ("".join(rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(2)), rng.randint(10, 999)))
    return " ".join(parts)


def render_line(rng, text):
    """A tight crop of text on a light background, RGB uint8 array."""
    f = font(rng, rng.randint(28, 40))
    x0, y0, x1, y1 = f.getbbox(text)
    pad = rng.randint(2, 8)
    bg = tuple(rng.randint(215, 255) for _ in range(3))
    fg = tuple(rng.randint(0, 70) for _ in range(3))
    img = Image.new("RGB", (x1 - x0 + 2 * pad, y1 - y0 + 2 * pad), bg)
    ImageDraw.Draw(img).text((pad - x0, pad - y0), text, font=f, fill=fg)
    return img


def norm_line(img, width):
    """PaddleOCR's resize_norm_img: 3 x 48 x width, BGR, (x/255-0.5)/0.5, 0 padding."""
    w, h = img.size
    rw = min(width, int(math.ceil(48 * w / h)))
    a = np.asarray(img.resize((rw, 48), Image.BILINEAR), dtype=np.float32)[:, :, ::-1]
    a = (a / 255.0 - 0.5) / 0.5
    out = np.zeros((3, 48, width), np.float32)
    out[:, :, :rw] = a.transpose(2, 0, 1)
    return out


def page(rng):
    bg = tuple(rng.randint(200, 255) for _ in range(3))
    img = Image.new("RGB", (640, 640), bg)
    d = ImageDraw.Draw(img)
    y = rng.randint(10, 40)
    for _ in range(rng.randint(6, 12)):
        f = font(rng, rng.randint(18, 44))
        text = phrase(rng, 5)
        x0, y0, x1, y1 = f.getbbox(text)
        x = rng.randint(10, max(11, 640 - (x1 - x0) - 10))
        if y + (y1 - y0) > 630:
            break
        d.text((x - x0, y - y0), text, font=f, fill=tuple(rng.randint(0, 90) for _ in range(3)))
        y += (y1 - y0) + rng.randint(12, 50)
    a = np.asarray(img, dtype=np.float32)[:, :, ::-1] / 255.0
    mean = np.array([0.485, 0.456, 0.406], np.float32)
    std = np.array([0.229, 0.224, 0.225], np.float32)
    return ((a - mean) / std).transpose(2, 0, 1).astype(np.float32)


def lines(seed, n, width, rotate=False):
    rng = random.Random(seed)
    xs, texts, labels = [], [], []
    for _ in range(n):
        t = phrase(rng, 3)  # longer lines get squeezed into 320 pixels
        img = render_line(rng, t)
        flip = rotate and rng.random() < 0.5
        if flip:
            img = img.rotate(180)
        xs.append(norm_line(img, width))
        texts.append(t)
        labels.append(1 if flip else 0)
    return np.stack(xs), texts, np.array(labels, np.int64)


def save(out, name, a):
    tmp = os.path.join(out, name + ".tmp.npy")
    np.save(tmp, a)
    os.replace(tmp, os.path.join(out, name))


def main(argv):
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    out = argv[0]
    os.makedirs(out, exist_ok=True)
    x, _, _ = lines(1, 128, 320)
    save(out, "rec_calib.npy", x)
    x, texts, _ = lines(2, 200, 320)
    save(out, "rec_eval.npy", x)
    with open(os.path.join(out, "rec_eval.json"), "w") as f:
        json.dump(texts, f, indent=0)
    x, _, _ = lines(3, 128, 192, rotate=True)
    save(out, "cls_calib.npy", x)
    x, _, y = lines(4, 100, 192, rotate=True)
    save(out, "cls_eval.npy", x)
    save(out, "cls_eval_labels.npy", y)
    rng = random.Random(5)
    save(out, "det_calib.npy", np.stack([page(rng) for _ in range(16)]))
    rng = random.Random(6)
    save(out, "det_eval.npy", np.stack([page(rng) for _ in range(4)]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
