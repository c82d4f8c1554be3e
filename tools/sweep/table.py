#!/usr/bin/python3
import json, collections, sys
rows = collections.OrderedDict()
for l in open(sys.argv[1] if len(sys.argv) > 1 else "/tmp/sweep/results2.jsonl"):
    r = json.loads(l.replace("Infinity", "1e999").replace("NaN", "null"))
    rows.setdefault(r["model"], {})[r["mode"]] = r
modes = ["static", "dynamic", "wo8", "wo4", "qop", "pt"]
print("| model | " + " | ".join(modes) + " | static time / RSS | checker |")
print("|---" * (len(modes) + 3) + "|")
for m, d in rows.items():
    cells = []
    chk = set()
    for mode in modes:
        r = d.get(mode)
        if r is None: cells.append("–"); continue
        if r["rc"] != 0:
            cells.append("error: " + r.get("error", "").split("\n")[0][:60]); continue
        if r.get("ort"): cells.append("ORT FAIL"); continue
        v = r.get("ort_sqnr")
        cells.append(f"{v:.1f}" if isinstance(v, float) and v < 1e300 else ("∞ (equal)" if isinstance(v, float) else str(v)))
        c = r.get("check", "")
        chk.add("ok" if c == "ok" else ("n/a (IR 10)" if "ir_version" in c else "FAIL " + c[:50]))
    s = d.get("static", {})
    cells.append(f"{s.get('sec','?')} s / {s.get('rss_mb','?')} MB")
    cells.append(", ".join(sorted(chk)))
    print(f"| {m} | " + " | ".join(cells) + " |")
