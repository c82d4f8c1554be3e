#!/usr/bin/python3
"""Run onnx.checker.check_model on each model given; print one JSON line per
model: {"path": ..., "error": null | "message"}.

    /usr/bin/python3 tools/check_model.py [--full] MODEL...

--full turns on full_check (shape inference with strict mode errors).
Exit status 0 even when a model fails the check; 2 on a usage error.
"""
import json
import sys

import onnx


def main(argv):
    full = False
    paths = []
    for a in argv:
        if a == "--full":
            full = True
        elif a.startswith("-"):
            print("unknown flag " + a, file=sys.stderr)
            return 2
        else:
            paths.append(a)
    if not paths:
        print(__doc__, file=sys.stderr)
        return 2
    for p in paths:
        err = None
        try:
            # Passing the path (not a loaded proto) lets the checker handle
            # external data and models over 2 GB.
            onnx.checker.check_model(p, full_check=full)
        except Exception as e:  # the checker raises several exception types
            err = "%s: %s" % (type(e).__name__, str(e).strip())
        print(json.dumps({"path": p, "error": err}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
