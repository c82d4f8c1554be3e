// run.mjs runs an ONNX model in ONNX Runtime on inputs stored as .npy files
// and writes the outputs as .npy files. One process, one session, many input
// sets, so that tests with hundreds of samples pay the start-up once.
//
//   node tools/ort/run.mjs JOB.json
//
// JOB.json:
//   {"model": "m.onnx", "threads": 1, "opt_level": "all",        // all|extended|basic|disabled
//    "optimized_model": "",                                      // optional: save ORT's optimised graph here
//    "result": "result.json",
//    "samples": [{"inputs": {"x": "in/0/x.npy"}, "out_dir": "out/0"}, ...]}
//
// For each sample every model output is written to out_dir/<k>.npy (k = the
// output's position), and result.json gets
//   {"inputs": [{"name","type","dims"}], "outputs": [...names...],
//    "samples": [{"outputs": {"name": "out/0/0.npy"}, "ms": 1.2}]}
// Exit status: 0 ok, 1 a run failed (message on stderr), 2 usage, 3 no ORT.
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { ort, sessionOptions } from './ort.mjs';
import { readNpy, writeNpy } from './npy.mjs';

if (process.argv.length !== 3) {
  console.error('usage: node tools/ort/run.mjs JOB.json');
  process.exit(2);
}
const jobPath = process.argv[2];
const job = JSON.parse(readFileSync(jobPath, 'utf8'));
const base = path.dirname(jobPath);
const abs = (p) => (path.isAbsolute(p) ? p : path.join(base, p));

async function main() {
  let session;
  try {
    session = await ort.InferenceSession.create(abs(job.model), sessionOptions({
      threads: job.threads ?? 1,
      optLevel: job.opt_level || 'all',
      optimizedModel: job.optimized_model ? abs(job.optimized_model) : '',
    }));
  } catch (e) {
    throw new Error(`load ${job.model}: ${e.message}`);
  }
  const result = {
    inputs: session.inputNames.map((n, i) => describe(n, session.inputMetadata?.[i])),
    outputs: session.outputNames,
    samples: [],
  };
  for (const [i, s] of (job.samples || []).entries()) {
    const feeds = {};
    for (const [name, file] of Object.entries(s.inputs)) {
      const t = readNpy(abs(file));
      feeds[name] = new ort.Tensor(t.type, t.data, t.dims);
    }
    const t0 = performance.now();
    let out;
    try {
      out = await session.run(feeds);
    } catch (e) {
      throw new Error(`sample ${i}: ${e.message}`);
    }
    const ms = performance.now() - t0;
    const dir = abs(s.out_dir);
    mkdirSync(dir, { recursive: true });
    const files = {};
    session.outputNames.forEach((name, k) => {
      const t = out[name];
      const file = path.join(dir, `${k}.npy`);
      writeNpy(file, t.type, t.dims.map(Number), t.data);
      files[name] = file;
    });
    result.samples.push({ outputs: files, ms });
  }
  writeFileSync(abs(job.result || 'result.json'), JSON.stringify(result));
  await session.release?.();
}

function describe(name, md) {
  if (!md) return { name };
  return { name, type: md.type, dims: md.shape };
}

main().catch((e) => {
  console.error(e.message);
  process.exit(1);
});
