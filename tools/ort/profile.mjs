// profile.mjs runs an ONNX model in ONNX Runtime with profiling on and
// prints where the time goes: per operator type of the optimized graph (the
// kernels ONNX Runtime actually runs, so a QDQ group that fused shows up as
// QLinearConv and one that did not as DequantizeLinear + Conv +
// QuantizeLinear), and the slowest nodes.
//
//   node tools/ort/profile.mjs MODEL [--shape name=1,3,224,224]... [--threads N]
//        [--iters N] [--warmup N] [--top N] [--optimized OUT.onnx] [--json]
//
// --optimized also saves the graph ONNX Runtime optimized (ptq inspect
// reads it). Times are medians over the iterations, in milliseconds.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ort, sessionOptions } from './ort.mjs';

function usage(msg) {
  if (msg) console.error(msg);
  console.error('usage: node tools/ort/profile.mjs MODEL [--shape name=d0,d1,...]... [--threads N] [--iters N] [--warmup N] [--top N] [--optimized OUT.onnx] [--json]');
  process.exit(2);
}

const args = process.argv.slice(2);
let model = '', optimized = '', json = false;
const shapes = {};
let threads = 1, iters = 5, warmup = 2, top = 15;
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  const val = () => { if (i + 1 >= args.length) usage(`${a} needs a value`); return args[++i]; };
  const int = () => { const v = Number(val()); if (!Number.isInteger(v) || v < 0) usage(`${a}: not a count`); return v; };
  if (a === '--shape') {
    const s = val();
    const eq = s.lastIndexOf('=');
    if (eq < 1) usage(`--shape ${s}: want name=d0,d1,...`);
    shapes[s.slice(0, eq)] = s.slice(eq + 1).split(',').map(Number);
  } else if (a === '--threads') threads = int();
  else if (a === '--iters') iters = int();
  else if (a === '--warmup') warmup = int();
  else if (a === '--top') top = int();
  else if (a === '--optimized') optimized = val();
  else if (a === '--json') json = true;
  else if (a.startsWith('-')) usage(`unknown flag ${a}`);
  else if (!model) model = a;
  else usage(`extra argument ${a}`);
}
if (!model) usage('no model');
if (iters < 1) usage('--iters must be at least 1');

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ort-profile-'));
const opts = sessionOptions({ threads, optimizedModel: optimized });
opts.enableProfiling = true;
opts.profileFilePrefix = path.join(dir, 'p');
const session = await ort.InferenceSession.create(model, opts);

const feeds = {};
let seed = 12345;
const rand = () => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648; };
session.inputMetadata.forEach((md) => {
  const dims = shapes[md.name] || md.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : 1));
  if (md.type !== 'float32') usage(`input ${md.name}: only float32 inputs are generated, not ${md.type}`);
  const n = dims.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let k = 0; k < n; k++) data[k] = rand();
  feeds[md.name] = new ort.Tensor('float32', data, dims);
});
for (let i = 0; i < warmup + iters; i++) await session.run(feeds);
session.endProfiling();

const file = fs.readdirSync(dir).map((f) => path.join(dir, f)).find((f) => f.endsWith('.json'));
if (!file) { console.error(`no profile written in ${dir}`); process.exit(1); }
const events = JSON.parse(fs.readFileSync(file, 'utf8'));
fs.rmSync(dir, { recursive: true, force: true });

// Node events are "<node>_kernel_time" in category Node; the runs after
// the warm-up ones are kept, split at the model_run events.
const runs = events.filter((e) => e.cat === 'Session' && e.name === 'model_run');
const keepFrom = runs.length > iters ? runs[runs.length - iters].ts : 0;
const perNode = new Map();
for (const e of events) {
  if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time') || e.ts < keepFrom) continue;
  const name = e.name.slice(0, -'_kernel_time'.length);
  let r = perNode.get(name);
  if (!r) { r = { name, op: e.args.op_name, provider: e.args.provider, times: [] }; perNode.set(name, r); }
  r.times.push(e.dur / 1000);
}
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const nodes = [...perNode.values()].map((r) => ({ name: r.name, op: r.op, provider: r.provider, ms: median(r.times) }));
const byOp = new Map();
for (const n of nodes) {
  const r = byOp.get(n.op) || { op: n.op, count: 0, ms: 0 };
  r.count++; r.ms += n.ms; byOp.set(n.op, r);
}
const ops = [...byOp.values()].sort((a, b) => b.ms - a.ms);
const total = ops.reduce((a, r) => a + r.ms, 0);
nodes.sort((a, b) => b.ms - a.ms);
const round = (x) => Math.round(x * 1000) / 1000;

if (json) {
  console.log(JSON.stringify({ model, threads, iters, total_ms: round(total),
    ops: ops.map((r) => ({ ...r, ms: round(r.ms) })), nodes: nodes.map((n) => ({ ...n, ms: round(n.ms) })) }));
} else {
  console.log(`${model}: ${round(total)} ms in kernels (median per node over ${iters} runs, ${threads} thread(s))`);
  console.log('op type                      nodes        ms      %');
  for (const r of ops) console.log(`${r.op.padEnd(28)} ${String(r.count).padStart(5)} ${r.ms.toFixed(3).padStart(9)} ${(100 * r.ms / total).toFixed(1).padStart(6)}`);
  console.log(`\nslowest ${Math.min(top, nodes.length)} nodes:`);
  for (const n of nodes.slice(0, top)) console.log(`${n.ms.toFixed(3).padStart(9)} ms  ${n.op.padEnd(22)} ${n.name}`);
}
