#!/usr/bin/python3
"""sweep.py MODEL.onnx [modes...] -> appends JSON lines to results.jsonl"""
import sys, os, json, subprocess, time, re, shutil
import numpy as np, onnx
REPO = os.environ.get("PTQ_REPO", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))); PTQ = os.environ.get("PTQ", "/tmp/ptq"); SW = os.environ.get("SWEEP_DIR", "/tmp/sweep")
MODES = {
 "static": [], "dynamic": ["--mode", "dynamic"], "wo8": ["--mode", "weight-only"],
 "wo4": ["--mode", "weight-only", "--weight-type", "int4", "--block-size", "32"],
 "qop": ["--format", "qoperator"], "pt": ["--per-channel=false"], "i8": ["--activation-type", "int8"], "u16": ["--activation-type", "uint16"], "ent": ["--method", "entropy"],
}
NCAL = int(os.environ.get("NCAL", "8")); NEVAL = 3
DT = {1: np.float32, 7: np.int64, 6: np.int32, 9: np.bool_, 10: np.float16, 11: np.float64}

def pb_data(model_path, name):
    from onnx import numpy_helper
    d = os.path.dirname(model_path)
    m = onnx.load(model_path, load_external_data=False)
    inits = {i.name for i in m.graph.initializer}
    names = [i.name for i in m.graph.input if i.name not in inits]
    samples = []
    for k in range(NEVAL):
        ds = f"{d}/test_data_set_{k}"
        if not os.path.isdir(ds): break
        od = f"{SW}/data/{name}/s{k}"; os.makedirs(od, exist_ok=True)
        ins = {}
        for j, nm in enumerate(names):
            t = onnx.TensorProto(); t.ParseFromString(open(f"{ds}/input_{j}.pb", "rb").read())
            fn = f"{od}/{j}.npy"; np.save(fn, numpy_helper.to_array(t)); ins[nm] = fn
        samples.append(ins)
    return samples

def make_data(model_path, name):
    if os.environ.get("PB"): return pb_data(model_path, name)
    m = onnx.load(model_path, load_external_data=False)
    inits = {i.name for i in m.graph.initializer}
    rng = np.random.default_rng(0)
    arrs = {}
    for inp in m.graph.input:
        if inp.name in inits: continue
        tt = inp.type.tensor_type
        shape = []
        for i, d in enumerate(tt.shape.dim):
            if d.HasField("dim_value"): shape.append(d.dim_value)
            else: shape.append(1 if i == 0 else (96 if d.dim_param in ("h", "w") else 16))
        dt = DT[tt.elem_type]
        n = NCAL
        if dt == np.float32 or dt == np.float64 or dt == np.float16:
            a = rng.standard_normal((n, *shape)).astype(dt)
        elif "mask" in inp.name:
            a = np.ones((n, *shape), dt); a[1::2, ..., shape[-1]*2//3:] = 0
        else:
            a = rng.integers(0, 2 if (inp.name == "tt" or "type" in inp.name) else 100, (n, *shape)).astype(dt)
        arrs[inp.name] = a
    os.makedirs(f"{SW}/data/{name}", exist_ok=True)
    np.savez(f"{SW}/data/{name}.npz", **arrs)
    samples = []
    for k in range(NEVAL):
        d = f"{SW}/data/{name}/s{k}"; os.makedirs(d, exist_ok=True)
        ins = {}
        for nm, a in arrs.items():
            fn = f"{d}/{re.sub('[^A-Za-z0-9_]', '_', nm)}.npy"; np.save(fn, a[k]); ins[nm] = fn
        samples.append(ins)
    return samples

def ort_run(model, samples, outdir):
    os.makedirs(outdir, exist_ok=True)
    job = {"model": model, "threads": 1, "result": f"{outdir}/result.json",
           "samples": [{"inputs": s, "out_dir": f"{outdir}/{k}"} for k, s in enumerate(samples)]}
    jf = f"{outdir}/job.json"; json.dump(job, open(jf, "w"))
    p = subprocess.run(["node", f"{REPO}/tools/ort/run.mjs", jf], capture_output=True, text=True, timeout=1800)
    if p.returncode != 0: return None, p.stderr.strip()[-600:]
    r = json.load(open(f"{outdir}/result.json"))
    outs = [[np.load(f) for f in s["outputs"].values()] for s in r["samples"]]
    return outs, None

def sqnr(ref, out):
    for rs, os_ in zip(ref, out):
        for r, o in zip(rs, os_):
            if r.shape != o.shape: return "shape %s vs %s" % (r.shape, o.shape)
    num = sum(float((r.astype(np.float64)**2).sum()) for rs in ref for r in rs)
    den = sum(float(((r.astype(np.float64) - o.astype(np.float64))**2).sum()) for rs, os_ in zip(ref, out) for r, o in zip(rs, os_))
    if not np.isfinite(den): return float("nan")
    return float("inf") if den == 0 else 10*np.log10(num/den)

def check(path):
    p = subprocess.run(["/usr/bin/python3", "-c", "import onnx,sys; onnx.checker.check_model(sys.argv[1], full_check=True)", path], capture_output=True, text=True, timeout=1800)
    return "ok" if p.returncode == 0 else p.stderr.strip().splitlines()[-1][:400]

def main():
    model = os.path.abspath(sys.argv[1]); name = os.path.basename(model)[:-5]
    if os.environ.get("PB"): name = "lib_" + os.path.basename(os.path.dirname(model))
    modes = sys.argv[2:] or list(MODES)
    samples = make_data(model, name)
    ref, err = ort_run(model, samples, f"{SW}/out/{name}/float")
    if err: print("FLOAT ORT FAIL", name, err); 
    for mode in modes:
        q = f"{SW}/q/{name}.{mode}.onnx"; os.makedirs(f"{SW}/q", exist_ok=True)
        if os.path.exists(q): os.remove(q)
        cmd = ["/usr/bin/time", "-f", "TIME %e %M", PTQ, "quantize", model, "-o", q, "-q", "--json", "--eval-samples", str(NEVAL)] + MODES[mode]
        if mode not in ("dynamic", "wo8", "wo4"): cmd += ["--data", os.path.dirname(model) if os.environ.get("PB") else f"{SW}/data/{name}.npz"]
        t0 = time.time()
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
        res = {"model": name, "mode": mode, "rc": p.returncode}
        m = re.search(r"TIME ([\d.]+) (\d+)", p.stderr)
        if m: res["sec"] = float(m.group(1)); res["rss_mb"] = int(m.group(2))//1024
        if p.returncode != 0:
            res["error"] = "\n".join(l for l in p.stderr.splitlines() if not l.startswith("TIME"))[-800:]
        else:
            try:
                js = json.loads(p.stdout)
                outs = (js.get("eval") or {}).get("outputs") or []
                res["ptq_sqnr"] = [None if o.get("sqnr_db") is None else round(o["sqnr_db"], 2) if isinstance(o["sqnr_db"], float) else o["sqnr_db"] for o in outs]
                res["nq"] = len(js.get("quantized_nodes") or []); res["left"] = len(js.get("left_float") or [])
            except Exception as e:
                res["json_err"] = str(e)[:200]
            res["check"] = check(q)
            out, err = ort_run(q, samples, f"{SW}/out/{name}/{mode}")
            if err: res["ort"] = err
            elif ref is not None:
                v = sqnr(ref, out); res["ort_sqnr"] = round(v, 2) if isinstance(v, float) else v
            res["size_mb"] = round(os.path.getsize(q)/1e6, 2)
        print(json.dumps(res), flush=True)
        with open(os.environ.get("RES", f"{SW}/results.jsonl"), "a") as f: f.write(json.dumps(res) + "\n")

main()
