#!/usr/bin/python3
"""Interleaves the live-anchor workers of one model (tests/bench/anchors.sh runs this): starts
each worker once (build + warm-up), then ROUNDS rounds in which every worker in turn times its
images while the others wait, so each round's figures share the machine's load. Prints ms per
image and our speed-up over each anchor as the median of the per-round ratios, then checks that
the outputs agree (same random weights on every side). Standard library only."""
import argparse
import array
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


class Worker:
    def __init__(self, key, label, engine, prec, capped, argv, env, images):
        self.key, self.label, self.engine, self.prec, self.capped = key, label, engine, prec, capped
        self.argv, self.env, self.images = argv, env, images
        self.proc, self.ready, self.rounds = None, "", []   # rounds: median ms of each round

    def start(self):
        env = dict(os.environ, **self.env)
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     env=env, text=True, bufsize=1)
        self.ready = self.proc.stdout.readline().strip()
        if not self.ready.startswith("ready"):
            self.stop()
            raise RuntimeError(f"{self.label} did not start (see the messages above)")

    def ask(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        reply = self.proc.stdout.readline().strip()
        if not reply:
            raise RuntimeError(f"{self.label} stopped answering")
        return reply

    def stop(self):
        if self.proc and self.proc.poll() is None:
            try:
                self.proc.stdin.write("quit\n")
                self.proc.stdin.flush()
                self.proc.wait(timeout=30)
            except (BrokenPipeError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()


def gflop(model, size):
    W, L, P, E = {"B16": (768, 12, 16, 512), "L14": (1024, 24, 14, 768)}[model]
    GG = (size // P) ** 2
    T = 1 + 4 + GG
    return (L * (2.0 * T * 12 * W * W + 4.0 * T * T * W) + 2.0 * GG * 3 * P * P * W
            + 4 * 2.0 * GG * W * E) / 1e9


def max_abs_diff(a, b):
    return max(abs(x - y) for x, y in zip(a, b))


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", required=True, choices=["B16", "L14"])
    ap.add_argument("--size", type=int, required=True)
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--images", type=int, default=5, help="images per round (f32 workers)")
    ap.add_argument("--bf16-images", type=int, default=1, help="images per round, PyTorch bf16")
    ap.add_argument("--ours", required=True, help="anchors_ours binary")
    ap.add_argument("--native-bf16", action="store_true", help="ours also runs bf16")
    ap.add_argument("--torch", action="store_true", help="PyTorch is installed")
    ap.add_argument("--torch-bf16", action="store_true", help="run PyTorch bf16")
    ap.add_argument("--cap", action="store_true", help="also the AVX2-capped workers")
    ap.add_argument("--cap-bf16", action="store_true", help="also PyTorch bf16 under the cap")
    ap.add_argument("--onnx", help="exported model for ONNX Runtime (absent: no ORT anchor)")
    ap.add_argument("--onnx-input", help="its input image, raw float32")
    ap.add_argument("--out", required=True, help="directory for the output dumps and results")
    ap.add_argument("--machine", default="", help="CPU description for the results file")
    a = ap.parse_args()

    M, S, T = a.model, str(a.size), str(a.threads)
    common = {"OMP_NUM_THREADS": T, "OPENBLAS_NUM_THREADS": T}
    cap_ours = {"ONEDNN_MAX_CPU_ISA": "AVX2"}
    cap_torch = {"ATEN_CPU_CAPABILITY": "avx2"}
    torch_py = [sys.executable, os.path.join(HERE, "anchors_torch.py"), "worker", M, S]
    workers = [Worker("ours-f32", "ours f32", "ours", "f32", False,
                      [a.ours, M, S, "f32"], common, a.images)]
    if a.native_bf16:
        workers.append(Worker("ours-bf16", "ours bf16", "ours", "bf16", False,
                              [a.ours, M, S, "bf16"], common, a.images))
    # Emulated bf16 takes a minute or more per image: no warm-up image (first-call costs are
    # noise against that).
    bf16_env = dict(common, ANCHORS_WARMUP="1" if a.native_bf16 else "0")
    if a.torch:
        workers.append(Worker("torch-f32", "PyTorch f32", "torch", "f32", False,
                              torch_py + ["f32", T], common, a.images))
        if a.torch_bf16:
            workers.append(Worker("torch-bf16", "PyTorch bf16", "torch", "bf16", False,
                                  torch_py + ["bf16", T], bf16_env, a.bf16_images))
    if a.onnx:
        node_env = dict(common, NODE_PATH=os.environ.get("NODE_PATH", ""))
        workers.append(Worker("ort-f32", "ONNX Runtime f32", "ort", "f32", False,
                              ["node", os.path.join(HERE, "anchors_ort.js"), a.onnx, a.onnx_input, S, T],
                              node_env, a.images))
    if a.cap:
        workers.append(Worker("ours-f32-cap", "ours f32, AVX2 cap", "ours", "f32", True,
                              [a.ours, M, S, "f32"], dict(common, **cap_ours), a.images))
        if a.torch:
            workers.append(Worker("torch-f32-cap", "PyTorch f32, AVX2 cap", "torch", "f32", True,
                                  torch_py + ["f32", T], dict(common, **cap_torch), a.images))
            if a.cap_bf16:
                workers.append(Worker("torch-bf16-cap", "PyTorch bf16, AVX2 cap", "torch", "bf16", True,
                                      torch_py + ["bf16", T], dict(bf16_env, **cap_torch), a.bf16_images))

    print(f"== vision {M}@{S} ({gflop(M, a.size):.1f} GFLOP/image), {T} threads: tower per image "
          f"(patches, prompts, blocks, 4 adapters, global embedding; not the head)", flush=True)
    started = []
    for w in workers:
        t0 = time.time()
        try:
            w.start()
        except (OSError, RuntimeError) as e:
            print(f"  {w.label}: NOT RUN: {e}", flush=True)
            continue
        env = " ".join(f"{k}={v}" for k, v in w.env.items() if k in ("ONEDNN_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY"))
        print(f"  started {w.label:<24} {env + ' ' if env else ''}({w.ready}; {time.time() - t0:.0f} s)", flush=True)
        started.append(w)
    if not any(w.key == "ours-f32" for w in started):
        print("anchors: our worker did not start; nothing to compare", file=sys.stderr)
        for w in started:
            w.stop()
        return 1

    for r in range(a.rounds):
        line = []
        for w in started:
            reply = w.ask(f"run {w.images}")
            ms = [float(x) for x in reply.split()[1:]]
            w.rounds.append(statistics.median(ms))
            line.append(f"{w.key} {w.rounds[-1]:.0f}")
            time.sleep(0.5)   # let the previous worker's spinning threads go to sleep
        print(f"  round {r + 1}/{a.rounds}: " + ", ".join(line) + " ms/image", flush=True)

    by = {w.key: w for w in started}

    def ours_for(w):
        """Ours at the anchor's precision where this CPU runs it, and with the same cap."""
        key = "ours-" + (w.prec if f"ours-{w.prec}" in by else "f32") + ("-cap" if w.capped else "")
        return by.get(key, by["ours-f32"])

    results = os.path.join(a.out, "results.tsv")
    print(f"\n  {'engine':<26}{'images/round':>13}{'ms/image per round':>30}{'median':>9}"
          f"{'ours ms':>9}{'speed-up':>10}  (ours vs)")
    with open(results, "a") as res:
        for w in started:
            rounds = " ".join(f"{x:.0f}" for x in w.rounds)
            med = statistics.median(w.rounds)
            if w.engine == "ours":
                print(f"  {w.label:<26}{w.images:>13}{rounds:>30}{med:>9.0f}")
                continue
            o = ours_for(w)
            ratios = [x / y for x, y in zip(w.rounds, o.rounds)]
            sp = statistics.median(ratios)
            print(f"  {w.label:<26}{w.images:>13}{rounds:>30}{med:>9.0f}{statistics.median(o.rounds):>9.0f}"
                  f"{sp:>9.2f}x  ({o.label}; per round {' '.join(f'{x:.2f}' for x in ratios)})")
            res.write(f"{M}@{S}\t{w.label}\t{o.label}\t{statistics.median(o.rounds):.0f}\t{med:.0f}\t{sp:.2f}"
                      f"\t{a.rounds}x{w.images}\t{T}\t{a.machine}\n")
        if "ort-f32" in by and "ours-f32-cap" in by:
            w, o = by["ort-f32"], by["ours-f32-cap"]
            ratios = [x / y for x, y in zip(w.rounds, o.rounds)]
            sp = statistics.median(ratios)
            print(f"  {'ONNX Runtime f32 (no ISA switch)':<26}{'':>13}{'(same rounds as above)':>30}"
                  f"{statistics.median(w.rounds):>9.0f}{statistics.median(o.rounds):>9.0f}{sp:>9.2f}x  ({o.label})")
            res.write(f"{M}@{S}\tONNX Runtime f32 (no ISA switch)\t{o.label}\t{statistics.median(o.rounds):.0f}"
                      f"\t{statistics.median(w.rounds):.0f}\t{sp:.2f}\t{a.rounds}x{w.images}\t{T}\t{a.machine}\n")

    # Same computation? Every output against PyTorch f32 (or ours when PyTorch is absent).
    ref_key = "torch-f32" if "torch-f32" in by else "ours-f32"
    dumps = {}
    for w in started:
        path = os.path.join(a.out, f"out_{M}_{S}_{w.key}.f32")
        if w.ask(f"dump {path}") == "dumped":
            dumps[w.key] = array.array("f", open(path, "rb").read())
    for w in started:
        w.stop()
    ref = dumps.get(ref_key)
    if ref is not None and len(dumps) > 1:
        mag = max(abs(x) for x in ref)
        print(f"\n  outputs (4 adapted maps + global embedding, {len(ref)} values, largest |x| {mag:.2f}) "
              f"against {by[ref_key].label}:")
        for key, d in dumps.items():
            if key != ref_key:
                print(f"    {by[key].label:<26} max |difference| {max_abs_diff(d, ref):.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
