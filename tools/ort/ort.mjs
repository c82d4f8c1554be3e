// Loads onnxruntime-node from the oracle folder that scripts/setup-oracles.sh
// fills (.oracles/node_modules), or from $PTQ_NODE_MODULES.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, '..', '..');
const modules = process.env.PTQ_NODE_MODULES || path.join(repoRoot, '.oracles', 'node_modules');
const require = createRequire(path.join(modules, 'noop.js'));

let ort;
try {
  ort = require('onnxruntime-node');
} catch (e) {
  console.error(`onnxruntime-node not found in ${modules}: run bash scripts/setup-oracles.sh (${e.message})`);
  process.exit(3);
}
export { ort };

const levels = new Set(['all', 'extended', 'basic', 'disabled']);

// sessionOptions maps the runner's options to ONNX Runtime's. One intra-op
// thread unless asked, one inter-op thread, sequential execution: the numbers
// must not depend on the box.
export function sessionOptions({ threads = 1, optLevel = 'all', optimizedModel = '' } = {}) {
  if (!levels.has(optLevel)) throw new Error(`unknown optimisation level ${optLevel}`);
  const o = {
    graphOptimizationLevel: optLevel,
    intraOpNumThreads: threads > 0 ? threads : 1,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    logSeverityLevel: 3,
  };
  if (optimizedModel) o.optimizedModelFilePath = optimizedModel;
  return o;
}
