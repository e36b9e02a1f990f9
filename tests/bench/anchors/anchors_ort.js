// ONNX Runtime side of the live anchors (tests/bench/anchors.sh): runs the f32 tower that
// anchors_torch.py exported, with onnxruntime-node (found through NODE_PATH, installed into
// build/anchors/node_modules by anchors.sh).
//   node anchors_ort.js MODEL.onnx INPUT.f32 SIZE THREADS
// builds the session, warms up, prints "ready ..."; then reads lines "run N" -> "ms T1 .. TN",
// "dump FILE" -> "dumped", "quit" (the protocol of anchors_ours.c).
'use strict';
const fs = require('fs');
const readline = require('readline');
const ort = require('onnxruntime-node');

async function main() {
  const [modelPath, inputPath, sizeArg, threadsArg] = process.argv.slice(2);
  if (!threadsArg) {
    console.error('usage: node anchors_ort.js MODEL.onnx INPUT.f32 SIZE THREADS');
    process.exit(2);
  }
  const size = Number(sizeArg), threads = Number(threadsArg);
  const t0 = process.hrtime.bigint();
  const session = await ort.InferenceSession.create(modelPath, {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const raw = fs.readFileSync(inputPath);
  const data = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.length));
  const feeds = { image: new ort.Tensor('float32', data, [1, 3, size, size]) };
  let out = await session.run(feeds);  // warm-up
  const ms = (a, b) => Number(b - a) / 1e6;
  console.log(`ready build+warm-up ${ms(t0, process.hrtime.bigint()).toFixed(0)} ms, ${threads} threads, ` +
              `f32, onnxruntime-node ${ort.env.versions.common}`);

  const rl = readline.createInterface({ input: process.stdin, terminal: false });
  for await (const line of rl) {  // one command at a time: the orchestrator waits for each reply
    const cmd = line.trim().split(/\s+/);
    if (cmd[0] === 'run') {
      const times = [];
      for (let i = 0; i < Number(cmd[1]); i++) {
        const a = process.hrtime.bigint();
        out = await session.run(feeds);
        times.push(ms(a, process.hrtime.bigint()).toFixed(2));
      }
      console.log('ms ' + times.join(' '));
    } else if (cmd[0] === 'dump') {
      // [4][G*G][E] adapted (the batch axis has one image), then [E] global, as the C side
      const a = out.adapted.data, g = out.global.data;
      const buf = Buffer.alloc((a.length + g.length) * 4);
      Buffer.from(a.buffer, a.byteOffset, a.length * 4).copy(buf, 0);
      Buffer.from(g.buffer, g.byteOffset, g.length * 4).copy(buf, a.length * 4);
      fs.writeFileSync(cmd[1], buf);
      console.log('dumped');
    } else if (cmd[0] === 'quit') {
      break;
    } else {
      console.log('error: unknown command');
    }
  }
  rl.close();
  process.exit(0);
}

main().catch((e) => {
  console.error(`anchors_ort: ${e.message || e}`);
  process.exit(1);
});
