// ONNX Runtime (onnxruntime-node, CPU) latency on an ONNX file, for bench_infer:
//   node ort_bench.js MODEL BATCH THREADS ITERS [HEIGHT WIDTH]  (default 300 300)
// Prints one line: "ort batch=B threads=T median_ms=X min_ms=Y cpu_ms=Z" (Z: the
// median process CPU time of one run, all threads).
'use strict';
const ort = require('onnxruntime-node');

async function main() {
  const [model, batch, threads, iters, height, width] = process.argv.slice(2);
  const B = Number(batch), T = Number(threads), K = Number(iters);
  const H = Number(height || 300), W = Number(width || 300);
  const sess = await ort.InferenceSession.create(model, {
    executionProviders: ['cpu'], intraOpNumThreads: T, interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    // ORT_NO_SPIN=1 (bench_infer sets it for its "no spinning" run): idle
    // threads sleep instead of spinning, like OpenMP's passive policy.
    extra: process.env.ORT_NO_SPIN === '1' ? { session: { intra_op: { allow_spinning: '0' } } } : {},
  });
  const n = B * 3 * H * W;
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = ((i * 2654435761) % 1000) / 500 - 1;
  const feeds = { [sess.inputNames[0]]: new ort.Tensor('float32', data, [B, 3, H, W]) };
  for (let i = 0; i < 3; i++) await sess.run(feeds);
  const t = [], c = [];
  for (let i = 0; i < K; i++) {
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    await sess.run(feeds);
    t.push(Number(process.hrtime.bigint() - t0) / 1e6);
    const dc = process.cpuUsage(c0);
    c.push((dc.user + dc.system) / 1e3);
  }
  t.sort((a, b) => a - b);
  c.sort((a, b) => a - b);
  const med = (v) => v[v.length >> 1].toFixed(3);
  console.log(`ort batch=${B} threads=${T} median_ms=${med(t)} min_ms=${t[0].toFixed(3)} cpu_ms=${med(c)}`);
}

main().catch((e) => { console.error(`ort_bench: ${e.message}`); process.exit(1); });
