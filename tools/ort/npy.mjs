// Minimal .npy (format 1.0-3.0, C order, little endian) reader and writer for
// the tensor types ONNX Runtime takes as inputs and gives as outputs.
import { readFileSync, writeFileSync } from 'node:fs';

// numpy descr -> [ONNX Runtime type name, typed array constructor]
const types = {
  '<f4': ['float32', Float32Array],
  '<f8': ['float64', Float64Array],
  '<f2': ['float16', Uint16Array],
  '<i8': ['int64', BigInt64Array],
  '<i4': ['int32', Int32Array],
  '<i2': ['int16', Int16Array],
  '|i1': ['int8', Int8Array],
  '<u8': ['uint64', BigUint64Array],
  '<u4': ['uint32', Uint32Array],
  '<u2': ['uint16', Uint16Array],
  '|u1': ['uint8', Uint8Array],
  '|b1': ['bool', Uint8Array],
};

function normDescr(d) {
  if (d.startsWith('=')) d = '<' + d.slice(1);
  if (d.length === 3 && d[2] === '1') d = '|' + d.slice(1);
  return d;
}

export function readNpy(path) {
  const buf = readFileSync(path);
  if (buf[0] !== 0x93 || buf.toString('latin1', 1, 6) !== 'NUMPY') {
    throw new Error(`${path}: not a .npy file`);
  }
  const major = buf[6];
  let hlen, start;
  if (major === 1) { hlen = buf.readUInt16LE(8); start = 10; }
  else { hlen = buf.readUInt32LE(8); start = 12; }
  const header = buf.toString('latin1', start, start + hlen);
  const descr = normDescr(/'descr':\s*'([^']+)'/.exec(header)[1]);
  if (/'fortran_order':\s*True/.test(header)) throw new Error(`${path}: Fortran order is not supported`);
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)[1];
  const dims = shapeText.split(',').map((s) => s.trim()).filter((s) => s !== '').map(Number);
  const t = types[descr];
  if (!t) throw new Error(`${path}: unsupported numpy type ${descr}`);
  const [type, Ctor] = t;
  const n = dims.reduce((a, b) => a * b, 1);
  const off = start + hlen;
  // Copy so the typed array is aligned and owns its memory.
  const bytes = new Uint8Array(n * Ctor.BYTES_PER_ELEMENT);
  if (off + bytes.length > buf.length) throw new Error(`${path}: truncated data`);
  bytes.set(buf.subarray(off, off + bytes.length));
  return { type, dims, data: new Ctor(bytes.buffer, 0, n) };
}

const descrOf = Object.fromEntries(Object.entries(types).map(([d, [t]]) => [t, d]));
descrOf.float16 = '<f2';
descrOf.uint16 = '<u2';
descrOf.uint8 = '|u1';

export function writeNpy(path, type, dims, data) {
  const descr = descrOf[type];
  if (!descr) throw new Error(`cannot write tensor of type ${type} to ${path}`);
  const shape = '(' + dims.map((d) => `${d},`).join('') + ')';
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  const pad = 63 - ((10 + header.length) % 64);
  header += ' '.repeat(pad) + '\n';
  const pre = Buffer.alloc(10);
  pre[0] = 0x93; pre.write('NUMPY', 1, 'latin1'); pre[6] = 1; pre[7] = 0;
  pre.writeUInt16LE(header.length, 8);
  let body;
  if (type === 'bool') body = Buffer.from(Uint8Array.from(data, (v) => (v ? 1 : 0)));
  else body = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  writeFileSync(path, Buffer.concat([pre, Buffer.from(header, 'latin1'), body]));
}
