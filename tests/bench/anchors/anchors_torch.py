#!/usr/bin/python3
"""PyTorch side of the live anchors (tests/bench/anchors.sh): the DAPO vision tower of
module/model/clip_vision.c (../shared/spec/dapo.md sections 2-3) written in plain PyTorch ops, with
the random weights anchors_ours.c generates, value for value.

  anchors_torch.py worker {B16|L14} SIZE {f32|bf16} THREADS
      builds, warms up, prints "ready ..."; then reads lines "run N" -> "ms T1 .. TN",
      "dump FILE" -> "dumped", "quit" (the protocol of anchors_ours.c)
  anchors_torch.py export {B16|L14} SIZE MODEL.onnx INPUT.f32
      writes the f32 tower as ONNX (for ONNX Runtime) and the input image as raw float32
"""
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

CONFIGS = {  # width, layers, heads, patch, embed
    "B16": (768, 12, 12, 16, 512),
    "L14": (1024, 24, 16, 14, 768),
}
MASK = (1 << 64) - 1


def name_seed(name):
    h = 0xCBF29CE484222325  # FNV-1a, as in anchors_ours.c
    for b in name.encode():
        h = ((h ^ b) * 0x100000001B3) & MASK
    return h


def gen(name, base, amp, n):
    """Element i = base + amp * u(splitmix64(seed + (i+1) * golden)), bit-identical to the C side."""
    out = np.empty(n, np.float32)
    seed = np.uint64(name_seed(name))
    step = 1 << 22
    for a in range(0, n, step):
        b = min(n, a + step)
        z = seed + np.arange(a + 1, b + 1, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z ^= z >> np.uint64(31)
        u = ((z >> np.uint64(40)).astype(np.float64) * (1.0 / 8388608.0)).astype(np.float32) - np.float32(1)
        out[a:b] = np.float32(base) + np.float32(amp) * u
    return out


def clip_tensor(name, shape):
    base, amp = 0.0, 0.02
    if "ln_" in name:
        base, amp = (1.0 if "weight" in name else 0.0), 0.05
    n = int(np.prod(shape))
    return torch.from_numpy(gen(name, base, amp, n).reshape(shape))


def param(t):
    return torch.nn.Parameter(t, requires_grad=False)


KEEP = float(np.float32(0.01))                      # DP_PROMPT_KEEP
MIX = float(np.float32(1) - np.float32(0.01))       # 1.0f - DP_PROMPT_KEEP, as the C side computes it


class Block(torch.nn.Module):
    """Pre-LN CLIP residual block: x + MHA(ln_1 x), then x + MLP(ln_2 x) with QuickGELU."""

    def __init__(self, prefix, W, H):
        super().__init__()
        self.W, self.H = W, H
        t = lambda leaf, shape: param(clip_tensor(f"{prefix}.{leaf}", shape))
        self.ln1_w, self.ln1_b = t("ln_1.weight", (W,)), t("ln_1.bias", (W,))
        self.ln2_w, self.ln2_b = t("ln_2.weight", (W,)), t("ln_2.bias", (W,))
        self.in_w, self.in_b = t("attn.in_proj_weight", (3 * W, W)), t("attn.in_proj_bias", (3 * W,))
        self.out_w, self.out_b = t("attn.out_proj.weight", (W, W)), t("attn.out_proj.bias", (W,))
        self.fc_w, self.fc_b = t("mlp.c_fc.weight", (4 * W, W)), t("mlp.c_fc.bias", (4 * W,))
        self.pr_w, self.pr_b = t("mlp.c_proj.weight", (W, 4 * W)), t("mlp.c_proj.bias", (W,))

    def forward(self, x):
        B, T, W = x.shape
        H, hd = self.H, W // self.H
        h = F.layer_norm(x, (W,), self.ln1_w, self.ln1_b, 1e-5)
        q, k, v = F.linear(h, self.in_w, self.in_b).split(W, dim=-1)
        q = q.reshape(B, T, H, hd).transpose(1, 2) * (hd ** -0.5)
        k = k.reshape(B, T, H, hd).transpose(1, 2)
        v = v.reshape(B, T, H, hd).transpose(1, 2)
        a = torch.softmax(q @ k.transpose(-2, -1), dim=-1) @ v
        x = x + F.linear(a.transpose(1, 2).reshape(B, T, W), self.out_w, self.out_b)
        h = F.layer_norm(x, (W,), self.ln2_w, self.ln2_b, 1e-5)
        m = F.linear(h, self.fc_w, self.fc_b)
        m = m * torch.sigmoid(1.702 * m)
        return x + F.linear(m, self.pr_w, self.pr_b)


class Tower(torch.nn.Module):
    """CLIP ViT with DAPO's 4 deep visual prompts, taps at 1/4..4/4 of the depth into 4 adapters,
    global embedding ln_post(CLS) @ proj. Returns (adapted [4, B, G*G, E], global [B, E])."""

    def __init__(self, model, size):
        super().__init__()
        W, L, H, P, E = CONFIGS[model]
        G = size // P
        self.W, self.P, self.G = W, P, G
        self.conv1_w = param(clip_tensor("visual.conv1.weight", (W, 3, P, P)))
        self.cls = param(clip_tensor("visual.class_embedding", (W,)))
        self.pos = param(clip_tensor("visual.positional_embedding", (1 + G * G, W)))
        self.ln_pre_w = param(clip_tensor("visual.ln_pre.weight", (W,)))
        self.ln_pre_b = param(clip_tensor("visual.ln_pre.bias", (W,)))
        self.ln_post_w = param(clip_tensor("visual.ln_post.weight", (W,)))
        self.ln_post_b = param(clip_tensor("visual.ln_post.bias", (W,)))
        self.proj = param(clip_tensor("visual.proj", (W, E)))
        self.blocks = torch.nn.ModuleList(
            Block(f"visual.transformer.resblocks.{i}", W, H) for i in range(L))
        self.prompts = param(torch.from_numpy(gen("dapo.visual_prompts", 0, 0.06, L * 4 * W)).reshape(L, 4, W))
        self.ad_w = torch.nn.ParameterList(
            param(torch.from_numpy(gen(f"dapo.adapter.{j}.weight", 0, 0.03, E * W)).reshape(E, W)) for j in range(4))
        self.ad_b = torch.nn.ParameterList(
            param(torch.from_numpy(gen(f"dapo.adapter.{j}.bias", 0, 0.01, E))) for j in range(4))
        self.taps = [L * (j + 1) // 4 for j in range(4)]

    def forward(self, img):
        B, W = img.shape[0], self.W
        x = F.conv2d(img, self.conv1_w, stride=self.P)              # [B, W, G, G]
        x = x.reshape(B, W, -1).permute(0, 2, 1)
        x = torch.cat([self.cls.reshape(1, 1, W).expand(B, 1, W), x], dim=1) + self.pos
        x = F.layer_norm(x, (W,), self.ln_pre_w, self.ln_pre_b, 1e-5)
        feats = []
        for i, blk in enumerate(self.blocks):
            p = self.prompts[i].unsqueeze(0).expand(B, 4, W)
            if i == 0:   # inserted after ln_pre, never normalised by it
                x = torch.cat([x[:, :1], p, x[:, 1:]], dim=1)
            else:        # re-mixed 1 % / 99 % before every later block
                x = torch.cat([x[:, :1], KEEP * x[:, 1:5] + MIX * p, x[:, 5:]], dim=1)
            x = blk(x)
            if i + 1 in self.taps:
                feats.append(x[:, 5:])
        adapted = torch.stack([F.linear(f, w, b) for f, w, b in zip(feats, self.ad_w, self.ad_b)])
        g = F.layer_norm(x[:, 0], (W,), self.ln_post_w, self.ln_post_b, 1e-5) @ self.proj
        return adapted, g


def cpu_capability():
    for line in torch.__config__.show().splitlines():
        if "CPU capability usage" in line:
            return line.split(":", 1)[1].strip()
    return "unknown"


def input_image(size):
    return torch.from_numpy(gen("input", 0, 1.5, 3 * size * size).reshape(1, 3, size, size))


def worker(model, size, prec, threads):
    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    with torch.inference_mode():
        tower = Tower(model, size).eval()
        img = input_image(size)
        if prec == "bf16":
            tower, img = tower.to(torch.bfloat16), img.to(torch.bfloat16)
        # warm-up, unless the orchestrator skips it (emulated bf16: a minute or more per image,
        # against which first-call costs are noise)
        warm = os.environ.get("ANCHORS_WARMUP", "1") != "0"
        out = tower(img) if warm else None
    print(f"ready build{'+warm-up' if warm else ' (no warm-up)'} {(time.perf_counter() - t0) * 1e3:.0f} ms, {torch.get_num_threads()} threads,"
          f" {prec}, torch {torch.__version__}, ATen CPU capability {cpu_capability()}", flush=True)
    for line in sys.stdin:
        cmd = line.split()
        if cmd[:1] == ["run"]:
            ms = []
            with torch.inference_mode():
                for _ in range(int(cmd[1])):
                    a = time.perf_counter()
                    out = tower(img)
                    ms.append((time.perf_counter() - a) * 1e3)
            print("ms " + " ".join(f"{t:.2f}" for t in ms), flush=True)
        elif cmd[:1] == ["dump"]:
            if out is None:
                with torch.inference_mode():
                    out = tower(img)
            adapted, g = out
            flat = torch.cat([adapted[:, 0].reshape(-1), g[0]]).float().numpy()
            flat.astype("<f4").tofile(cmd[1])
            print("dumped", flush=True)
        elif cmd[:1] == ["quit"]:
            break
        else:
            print("error: unknown command", flush=True)


def export(model, size, onnx_path, input_path):
    t0 = time.perf_counter()
    with torch.no_grad():
        tower = Tower(model, size).eval()
        img = input_image(size)
        torch.onnx.export(tower, (img,), onnx_path, input_names=["image"],
                          output_names=["adapted", "global"], opset_version=14,
                          do_constant_folding=True)
    img.numpy().astype("<f4").tofile(input_path)
    print(f"exported {onnx_path} in {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "worker":
        worker(sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5]))
    elif len(sys.argv) == 6 and sys.argv[1] == "export":
        export(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5])
    else:
        sys.exit(__doc__)
