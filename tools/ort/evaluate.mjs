// evaluate.mjs measures a model in ONNX Runtime on a .npy of samples: top-1
// accuracy against labels and, given a reference (float) model, the output
// SQNR and cosine similarity against it and the reference's own top-1.
//
//   node tools/ort/evaluate.mjs MODEL --data X.npy [--labels Y.npy]
//        [--reference FLOAT.onnx] [--batch N] [--threads N] [--opt-level L]
//
// X's first axis is the sample axis; the model has one input. Samples are fed
// --batch at a time (default 100; 1 when the model's batch axis is fixed).
// SQNR = 10 log10(sum ref^2 / sum (out - ref)^2) over every output element.
// Top-1 is the argmax of the first output's last axis.
// Prints one JSON object: {"n", "top1", "ref_top1", "sqnr_db", "cosine"}.
import { ort, sessionOptions } from './ort.mjs';
import { readNpy } from './npy.mjs';

function usage(msg) {
  if (msg) console.error(msg);
  console.error('usage: node tools/ort/evaluate.mjs MODEL --data X.npy [--labels Y.npy] [--reference FLOAT.onnx] [--batch N] [--threads N] [--opt-level L]');
  process.exit(2);
}

const args = process.argv.slice(2);
const o = { batch: 100, threads: 1, optLevel: 'all' };
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  const val = () => { if (i + 1 >= args.length) usage(`${a} needs a value`); return args[++i]; };
  if (a === '--data') o.data = val();
  else if (a === '--labels') o.labels = val();
  else if (a === '--reference') o.reference = val();
  else if (a === '--batch') o.batch = Number(val());
  else if (a === '--threads') o.threads = Number(val());
  else if (a === '--opt-level') o.optLevel = val();
  else if (a.startsWith('-')) usage(`unknown flag ${a}`);
  else if (!o.model) o.model = a;
  else usage(`extra argument ${a}`);
}
if (!o.model || !o.data) usage('need MODEL and --data');
if (!(o.batch >= 1)) usage('--batch must be at least 1');

const x = readNpy(o.data);
const n = x.dims[0];
const per = x.dims.slice(1).reduce((a, b) => a * b, 1);
let labels = null;
if (o.labels) {
  const l = readNpy(o.labels);
  if (l.dims[0] !== n) usage(`${o.labels}: ${l.dims[0]} labels for ${n} samples`);
  labels = Array.from(l.data, Number);
}

async function runAll(path) {
  const s = await ort.InferenceSession.create(path, sessionOptions({ threads: o.threads, optLevel: o.optLevel }));
  if (s.inputNames.length !== 1) throw new Error(`${path}: ${s.inputNames.length} inputs, want 1`);
  const dim0 = s.inputMetadata[0].shape[0];
  const batch = typeof dim0 === 'number' && dim0 > 0 ? dim0 : o.batch;
  const outs = s.outputNames.map(() => []);
  let shapes = null;
  for (let b = 0; b < n; b += batch) {
    const m = Math.min(batch, n - b);
    const data = x.data.slice(b * per, (b + m) * per);
    const r = await s.run({ [s.inputNames[0]]: new ort.Tensor(x.type, data, [m, ...x.dims.slice(1)]) });
    s.outputNames.forEach((name, k) => outs[k].push(Float32Array.from(r[name].data, Number)));
    shapes = s.outputNames.map((name) => r[name].dims.map(Number));
  }
  return { outs: outs.map(concat), shapes };
}

function concat(parts) {
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let off = 0;
  for (const p of parts) { out.set(p, off); off += p.length; }
  return out;
}

function top1(run) {
  if (!labels) return null;
  const y = run.outs[0];
  const classes = run.shapes[0][run.shapes[0].length - 1];
  let right = 0;
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (y[i * classes + c] > y[i * classes + best]) best = c;
    if (best === labels[i]) right++;
  }
  return right / n;
}

const res = { n, model: o.model };
const run = await runAll(o.model);
res.top1 = top1(run);
if (o.reference) {
  const ref = await runAll(o.reference);
  res.ref_top1 = top1(ref);
  let sig = 0, noise = 0, dot = 0, na = 0, nb = 0;
  ref.outs.forEach((r, k) => {
    const q = run.outs[k];
    if (q.length !== r.length) throw new Error(`output ${k}: ${q.length} values vs ${r.length} in the reference`);
    for (let i = 0; i < r.length; i++) {
      sig += r[i] * r[i]; noise += (q[i] - r[i]) ** 2;
      dot += r[i] * q[i]; na += r[i] * r[i]; nb += q[i] * q[i];
    }
  });
  res.sqnr_db = noise === 0 ? Infinity : 10 * Math.log10(sig / noise);
  res.cosine = dot / Math.sqrt(na * nb);
  res.reference = o.reference;
}
console.log(JSON.stringify(res));
