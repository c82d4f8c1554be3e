#!/usr/bin/python3
"""Compare pairs of ONNX models as onnx.load sees them.

Reads JSON from stdin: [["a.onnx", "b.onnx"], ...]; prints one JSON line per
pair: {"a": ..., "b": ..., "equal": bool, "diff": "first differing field"}.
External data is loaded, so a model and its external-data twin compare equal.
"""
import json
import math
import sys

import onnx
from google.protobuf.descriptor import FieldDescriptor


def short(v):
    s = repr(v)
    return s if len(s) <= 80 else s[:77] + "..."


def same_scalar(x, y):
    # NaN == NaN for our purpose: a bit-identical round trip keeps NaNs.
    if isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y):
        return True
    return x == y


def first_diff(a, b, path):
    """Describe the first field where messages a and b differ, or None."""
    if a == b:
        return None
    fields = {f.name: f for f, _ in a.ListFields()}
    fields.update({f.name: f for f, _ in b.ListFields()})
    for name in sorted(fields, key=lambda n: fields[n].number):
        f = fields[name]
        va, vb = getattr(a, name), getattr(b, name)
        p = path + "." + name if path else name
        if f.label == FieldDescriptor.LABEL_REPEATED:
            if f.message_type is not None and f.message_type.GetOptions().map_entry:
                if dict(va) != dict(vb):
                    return "%s: map differs" % p
                continue
            if len(va) != len(vb):
                return "%s: length %d vs %d" % (p, len(va), len(vb))
            for i, (x, y) in enumerate(zip(va, vb)):
                q = "%s[%d]" % (p, i)
                if f.type == FieldDescriptor.TYPE_MESSAGE:
                    d = first_diff(x, y, q)
                    if d:
                        return d
                elif not same_scalar(x, y):
                    return "%s: %s vs %s" % (q, short(x), short(y))
        elif f.type == FieldDescriptor.TYPE_MESSAGE:
            if a.HasField(name) != b.HasField(name):
                return "%s: present in %s only" % (p, "first" if a.HasField(name) else "second")
            d = first_diff(va, vb, p)
            if d:
                return d
        else:
            # onnx.proto is proto2: every singular field has presence.
            if f.label == FieldDescriptor.LABEL_OPTIONAL:
                if a.HasField(name) != b.HasField(name):
                    return "%s: set in %s only" % (p, "first" if a.HasField(name) else "second")
            if not same_scalar(va, vb):
                return "%s: %s vs %s" % (p, short(va), short(vb))
    if a.SerializeToString(deterministic=True) != b.SerializeToString(deterministic=True):
        return "%s: serialised bytes differ (unknown fields or field presence)" % (path or "model")
    return None


def main():
    pairs = json.load(sys.stdin)
    for a, b in pairs:
        res = {"a": a, "b": b, "equal": False, "diff": None}
        try:
            ma, mb = onnx.load(a), onnx.load(b)
            # first_diff is None also when == fails only on NaN != NaN.
            d = None if ma == mb else first_diff(ma, mb, "")
            res["equal"] = d is None
            res["diff"] = d
        except Exception as e:
            res["diff"] = "load: %s: %s" % (type(e).__name__, str(e).strip())
        print(json.dumps(res), flush=True)


if __name__ == "__main__":
    main()
