// Runs an ONNX file with ONNX Runtime (onnxruntime-node, CPU) on a raw float32
// input and writes each output as <prefix>.<name>.f32.
//   node ort_run.js MODEL INPUT.f32 N,C,H,W PREFIX [THREADS]
'use strict';
const fs = require('fs');
const ort = require('onnxruntime-node');

async function main() {
  const [model, input, dims, prefix, threads] = process.argv.slice(2);
  if (!prefix) throw new Error('usage: node ort_run.js MODEL INPUT.f32 N,C,H,W PREFIX [THREADS]');
  const shape = dims.split(',').map(Number);
  const buf = fs.readFileSync(input);
  const data = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length));
  if (data.length !== shape.reduce((a, b) => a * b, 1)) throw new Error(`${input}: size does not match ${dims}`);
  const sess = await ort.InferenceSession.create(model, {
    executionProviders: ['cpu'], intraOpNumThreads: Number(threads || 2), interOpNumThreads: 1,
  });
  const out = await sess.run({ [sess.inputNames[0]]: new ort.Tensor('float32', data, shape) });
  for (const name of sess.outputNames) {
    const t = out[name];
    fs.writeFileSync(`${prefix}.${name}.f32`, Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    console.log(`ort_run: ${name} [${t.dims.join(', ')}]`);
  }
}

main().catch((e) => { console.error(`ort_run: ${e.message}`); process.exit(1); });
