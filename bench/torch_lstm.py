#!/usr/bin/env python3
"""PyTorch twin of examples/lstm.snet, for CPU speed comparisons.

Layer-for-layer copy of the sublinear model and the stdlib `lstm` block (frontend/stdlib/std.snet):

  layers x LSTM cells of `hidden` units, unrolled layer by layer over seq_len steps; each layer's cell
  has its own weights, shared by its steps:
      gates = linear(x, 4 hidden, with bias) + linear(h, 4 hidden, no bias)
      (i, f, g, o) = split(gates, 4)
      c' = sigmoid(f) * c + sigmoid(i) * tanh(g);  h' = sigmoid(o) * tanh(c')
  h and c start at zero; a linear classifier (classes, with bias) shared by every step; the loss is the
  mean over steps of softmax cross-entropy (mean over the batch).

Training: SGD, lr 0.1, momentum 0.9, on one fixed batch of random float32 inputs and random labels.
Written with explicit cells (not nn.LSTM's fused kernel) so that the ops match the sublinear graph.

  python3 bench/torch_lstm.py --seq-len 32 --batch 64 --steps 3 --json
  python3 bench/torch_lstm.py --seq-len 32 --profile     # per-op-kind times (torch.profiler), JSON
"""
import argparse
import json
import statistics
import sys
import time
import warnings

warnings.filterwarnings("ignore", message="Failed to initialize NumPy")

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402


class Cell(nn.Module):
    def __init__(self, in_dim, hidden):
        super().__init__()
        self.wx = nn.Linear(in_dim, 4 * hidden, bias=True)
        self.wh = nn.Linear(hidden, 4 * hidden, bias=False)

    def forward(self, x, h, c):
        i, f, g, o = torch.chunk(self.wx(x) + self.wh(h), 4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c


class LstmLm(nn.Module):
    def __init__(self, layers, hidden, input_dim, classes):
        super().__init__()
        self.hidden = hidden
        self.cells = nn.ModuleList(Cell(input_dim if l == 0 else hidden, hidden) for l in range(layers))
        self.classifier = nn.Linear(hidden, classes, bias=True)

    def forward(self, x, labels):
        n, t, _ = x.shape
        xs = [x[:, s] for s in range(t)]
        for cell in self.cells:
            h = x.new_zeros(n, self.hidden)
            c = x.new_zeros(n, self.hidden)
            out = []
            for s in range(t):
                h, c = cell(xs[s], h, c)
                out.append(h)
            xs = out
        losses = [F.cross_entropy(self.classifier(xs[s]), labels[:, s]) for s in range(t)]
        return torch.stack(losses).sum() * (1.0 / t)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--hidden", type=int, default=1024)
    ap.add_argument("--input-dim", type=int, default=50)
    ap.add_argument("--classes", type=int, default=5000)
    ap.add_argument("--seq-len", type=int, default=64)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=3, help="timed steps (after warmup)")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true", help="print one JSON line and nothing else")
    ap.add_argument("--profile", action="store_true", help="print per-op self CPU seconds per step, JSON")
    ap.add_argument("--compile", action="store_true", help="run the model under torch.compile (inductor), "
                    "compiled in the warmup")
    args = ap.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    model = LstmLm(args.layers, args.hidden, args.input_dim, args.classes)
    model.train()
    x = torch.randn(args.batch, args.seq_len, args.input_dim)
    labels = torch.randint(0, args.classes, (args.batch, args.seq_len))
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

    run = torch.compile(model) if args.compile else model

    def step():
        opt.zero_grad(set_to_none=True)
        loss = run(x, labels)
        loss.backward()
        opt.step()
        return loss

    for _ in range(args.warmup):
        step()
    if args.profile:
        from torch_op_kinds import profile_steps
        print(json.dumps(profile_steps(step, args.steps)))
        return 0
    times = []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    sec = statistics.median(times)
    if args.json:
        print(json.dumps({"framework": "pytorch (compile)" if args.compile else "pytorch", "model": "lstm",
                          "s_per_step": sec,
                          "samples_per_s": args.batch / sec, "threads": torch.get_num_threads()}))
    else:
        print(f"pytorch lstm: {sec:.3f} s/step ({args.batch / sec:.1f} samples/s), {torch.get_num_threads()} threads")
    return 0


if __name__ == "__main__":
    sys.exit(main())
