// bench.mjs times an ONNX model in ONNX Runtime, for side-by-side numbers
// with `ptq bench`.
//
//   node tools/ort/bench.mjs MODEL [--shape name=1,3,224,224]... [--threads N]
//        [--iters N] [--warmup N] [--opt-level all|extended|basic|disabled]
//
// Inputs are random (fixed seed; floats uniform in [0,1), integers 0, bools
// false); a dimension that is symbolic and not given by --shape is 1.
// Prints one JSON object: {"median_ms", "min_ms", "mean_ms", "iters", "threads",
// "warmup", "opt_level", "model"}.
import { ort, sessionOptions } from './ort.mjs';

function usage(msg) {
  if (msg) console.error(msg);
  console.error('usage: node tools/ort/bench.mjs MODEL [--shape name=1,3,224,224]... [--threads N] [--iters N] [--warmup N] [--opt-level LEVEL]');
  process.exit(2);
}

const args = process.argv.slice(2);
let model = '';
const shapes = {};
let threads = 1, iters = 20, warmup = 3, optLevel = 'all';
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  const val = () => { if (i + 1 >= args.length) usage(`${a} needs a value`); return args[++i]; };
  const int = () => { const v = Number(val()); if (!Number.isInteger(v) || v < 0) usage(`${a}: not a count`); return v; };
  if (a === '--shape') {
    const s = val();
    const eq = s.lastIndexOf('=');
    if (eq < 1) usage(`--shape ${s}: want name=d0,d1,...`);
    const dims = s.slice(eq + 1).split(',').map(Number);
    if (dims.some((d) => !Number.isInteger(d) || d < 0)) usage(`--shape ${s}: bad dimension`);
    shapes[s.slice(0, eq)] = dims;
  } else if (a === '--threads') threads = int();
  else if (a === '--iters') iters = int();
  else if (a === '--warmup') warmup = int();
  else if (a === '--opt-level') optLevel = val();
  else if (a.startsWith('-')) usage(`unknown flag ${a}`);
  else if (!model) model = a;
  else usage(`extra argument ${a}`);
}
if (!model) usage('no model');
if (iters < 1) usage('--iters must be at least 1');

// mulberry32: small, seeded, good enough for benchmark inputs.
function rng(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ctors = {
  float32: Float32Array, float64: Float64Array, int64: BigInt64Array, int32: Int32Array,
  int16: Int16Array, int8: Int8Array, uint8: Uint8Array, uint16: Uint16Array, bool: Uint8Array,
  float16: Uint16Array,
};

const session = await ort.InferenceSession.create(model, sessionOptions({ threads, optLevel }));
const rand = rng(12345);
const feeds = {};
session.inputMetadata.forEach((md) => {
  const dims = shapes[md.name] || md.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : 1));
  delete shapes[md.name];
  const n = dims.reduce((a, b) => a * b, 1);
  const Ctor = ctors[md.type];
  if (!Ctor) usage(`input ${md.name}: cannot make ${md.type} data`);
  const data = new Ctor(n);
  if (md.type === 'float32' || md.type === 'float64') for (let i = 0; i < n; i++) data[i] = rand();
  else if (md.type === 'float16') data.fill(0x3800); // 0.5
  feeds[md.name] = new ort.Tensor(md.type, data, dims);
});
const unknown = Object.keys(shapes);
if (unknown.length) usage(`--shape for unknown input(s) ${unknown.join(', ')}; inputs are ${session.inputNames.join(', ')}`);

for (let i = 0; i < warmup; i++) await session.run(feeds);
const times = [];
for (let i = 0; i < iters; i++) {
  const t0 = performance.now();
  await session.run(feeds);
  times.push(performance.now() - t0);
}
times.sort((a, b) => a - b);
const mid = times.length >> 1;
const median = times.length % 2 ? times[mid] : (times[mid - 1] + times[mid]) / 2;
const round = (x) => Math.round(x * 1000) / 1000;
console.log(JSON.stringify({
  median_ms: round(median), min_ms: round(times[0]),
  mean_ms: round(times.reduce((a, b) => a + b, 0) / times.length),
  iters, threads, warmup, opt_level: optLevel, model,
}));
