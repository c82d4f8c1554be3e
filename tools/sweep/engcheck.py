#!/usr/bin/python3
"""engcheck.py PTQ [GLOB]: the float engine (`ptq run`) against ONNX Runtime
(graph optimisation off) on the first sample of each sweep model whose one
input is a .npy: the largest |ptq - ORT| over each model's float outputs,
as a fraction of the output's largest magnitude. Flags those above 1e-4."""
import json, os, re, subprocess, sys, glob, shutil
import numpy as np
REPO = os.environ.get("PTQ_REPO", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
SW = os.environ.get("SWEEP_DIR", "/tmp/sweep")
ptq = sys.argv[1]
for mp in sorted(glob.glob(SW + '/models/' + (sys.argv[2] if len(sys.argv) > 2 else '*') + '.onnx')):
    name = os.path.basename(mp)[:-5]
    s0 = f'{SW}/data/{name}/s0'
    if not os.path.isdir(s0): print(name, 'no data'); continue
    inputs = {f[:-4]: f'{s0}/{f}' for f in os.listdir(s0) if f.endswith('.npy')}
    job = {"model": mp, "result": "/tmp/lec.json", "opt_level": "disabled", "threads": 1,
           "samples": [{"inputs": inputs, "out_dir": "/tmp/lec_ort"}]}
    json.dump(job, open('/tmp/lec_job.json', 'w'))
    shutil.rmtree('/tmp/lec_ort', ignore_errors=True); shutil.rmtree('/tmp/lec_ptq', ignore_errors=True)
    p = subprocess.run(['node', REPO + '/tools/ort/run.mjs', '/tmp/lec_job.json'], capture_output=True, text=True)
    if p.returncode: print(name, 'ORT failed', p.stderr[-200:]); continue
    r = json.load(open('/tmp/lec.json'))['samples'][0]['outputs']
    if len(inputs) != 1: print(name, 'skipped: more than one input'); continue
    data = list(inputs.values())[0]
    p = subprocess.run([ptq, 'run', mp, '--data', data, '--out', '/tmp/lec_ptq'], capture_output=True, text=True)
    if p.returncode: print(name, 'ptq failed', p.stderr[-300:]); continue
    worst = 0
    for nm, f in r.items():
        a = np.load(f)
        cand = glob.glob('/tmp/lec_ptq/**/*.npy', recursive=True)
        fn = [c for c in cand if os.path.basename(c) == re.sub('[^A-Za-z0-9_.-]', '_', nm) + '.npy']
        if not fn: print(name, 'missing', nm, cand[:3]); continue
        b = np.load(fn[0])
        if b.shape != a.shape and b.shape[1:] == a.shape: b = b[0]
        if a.dtype.kind != 'f' or a.size == 0: continue
        d = np.abs(a.astype(float) - b).max() / (np.abs(a).max() + 1e-12)
        worst = max(worst, d)
    print(f'{name:40s} worst |ptq-ORT|/max|ORT| = {worst:.2e}', 'BAD' if worst > 1e-4 else '')
