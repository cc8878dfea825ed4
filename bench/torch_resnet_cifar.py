#!/usr/bin/env python3
"""PyTorch twin of examples/resnet_cifar.snet, for CPU training-speed comparisons.

Layer-for-layer copy of the sublinear model and of the stdlib blocks it uses
(frontend/stdlib/std.snet: preact_bottleneck, bn_relu_conv, preact_head, classifier_head):

  stem:    conv3x3(16, pad 1, no bias)
  stage s: n x preact_bottleneck(widths[s]), widths = [16, 32, 64], stride 2 in the first unit of
           stages 2 and 3
  head:    BN-ReLU, global average pool, linear(classes, with bias)
  loss:    softmax cross-entropy, mean reduction

preact_bottleneck(x, channels, stride):
  pre = relu(bn(x))
  a   = conv1x1(pre, channels)                         no bias
  b   = conv3x3(relu(bn(a)), channels, stride, pad 1)  no bias
  c   = conv1x1(relu(bn(b)), 4 * channels)             no bias
  shortcut = conv1x1(pre, 4 * channels, stride) if stride != 1 or C_in != 4 * channels else x
  return shortcut + c

Batch norms: eps 1e-5, momentum 0.1, learned scale and shift, running statistics (the sublinear
defaults). Training: SGD, lr 0.1, momentum 0.9, no weight decay, on one fixed batch of random
float32 NCHW images and random labels, generated once. Each timed step is forward + backward +
optimizer step; the first --warmup steps are not timed.

  python3 bench/torch_resnet_cifar.py --depth 29 --batch 32 --steps 20 --json
"""
import argparse
import json
import resource
import statistics
import sys
import time
import warnings

warnings.filterwarnings("ignore", message="Failed to initialize NumPy")

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402


def bn(channels):
    return nn.BatchNorm2d(channels, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True)


class BnReluConv(nn.Module):
    """std.snet bn_relu_conv: conv2d(relu(batch_norm(x)), pad = kernel / 2, bias=false)."""

    def __init__(self, in_ch, channels, kernel=3, stride=1):
        super().__init__()
        self.bn = bn(in_ch)
        self.conv = nn.Conv2d(in_ch, channels, kernel, stride=stride, padding=kernel // 2,
                              bias=False)

    def forward(self, x):
        return self.conv(F.relu(self.bn(x)))


class PreactBottleneck(nn.Module):
    """std.snet preact_bottleneck: output has 4 * channels channels."""

    def __init__(self, in_ch, channels, stride=1):
        super().__init__()
        self.bn = bn(in_ch)
        self.conv_a = nn.Conv2d(in_ch, channels, 1, bias=False)
        self.b = BnReluConv(channels, channels, kernel=3, stride=stride)
        self.c = BnReluConv(channels, 4 * channels, kernel=1)
        if stride != 1 or in_ch != 4 * channels:
            self.shortcut = nn.Conv2d(in_ch, 4 * channels, 1, stride=stride, bias=False)
        else:
            self.shortcut = None

    def forward(self, x):
        pre = F.relu(self.bn(x))
        c = self.c(self.b(self.conv_a(pre)))
        shortcut = self.shortcut(pre) if self.shortcut is not None else x
        return shortcut + c


class PreactHead(nn.Module):
    """std.snet preact_head: BN-ReLU, global average pool, linear(classes) with bias."""

    def __init__(self, in_ch, classes):
        super().__init__()
        self.bn = bn(in_ch)
        self.fc = nn.Linear(in_ch, classes, bias=True)

    def forward(self, x):
        h = F.relu(self.bn(x))
        return self.fc(h.mean(dim=(2, 3)))


class ResNetCifar(nn.Module):
    def __init__(self, depth=164, classes=10):
        super().__init__()
        if not (depth >= 11 and (depth - 2) % 9 == 0):
            raise ValueError("invalid depth: depth must be 9n + 2 with n >= 1 (e.g. 164 or 1001)")
        n = (depth - 2) // 9
        widths = [16, 32, 64]
        self.stem = nn.Conv2d(3, 16, 3, padding=1, bias=False)
        units = []
        in_ch = 16
        for s in range(3):
            for u in range(n):
                stride = 2 if (u == 0 and s > 0) else 1
                units.append(PreactBottleneck(in_ch, widths[s], stride))
                in_ch = 4 * widths[s]
        self.units = nn.Sequential(*units)
        self.head = PreactHead(in_ch, classes)

    def forward(self, x):
        return self.head(self.units(self.stem(x)))


def count_layers(model):
    convs = sum(1 for m in model.modules() if isinstance(m, nn.Conv2d))
    bns = sum(1 for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    linears = sum(1 for m in model.modules() if isinstance(m, nn.Linear))
    return convs, bns, linears


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--depth", type=int, default=29, help="9n + 2 (default 29)")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--image-size", type=int, default=32)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--steps", type=int, default=20, help="timed steps (after warmup)")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: default)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true", help="print one JSON line and nothing else")
    ap.add_argument("--compile", action="store_true",
                    help="train torch.compile(model) (inductor; compiled during the warmup steps)")
    ap.add_argument("--profile", action="store_true",
                    help="print per-op-kind self CPU seconds per step (torch.profiler) as JSON instead")
    args = ap.parse_args()

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    try:
        model = ResNetCifar(args.depth, args.classes)
    except ValueError as e:
        print(f"torch_resnet_cifar: {e}", file=sys.stderr)
        return 2
    model.train()
    params = sum(p.numel() for p in model.parameters())
    # Running mean and variance only (not num_batches_tracked), like sublinear's "state memory".
    state_bytes = sum(b.numel() * b.element_size() for name, b in model.named_buffers()
                      if not name.endswith("num_batches_tracked"))
    convs, bns, linears = count_layers(model)

    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    net = torch.compile(model) if args.compile else model
    x = torch.randn(args.batch, 3, args.image_size, args.image_size, dtype=torch.float32)
    labels = torch.randint(0, args.classes, (args.batch,), dtype=torch.int64)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(net(x), labels, reduction="mean")
        loss.backward()
        opt.step()
        return loss.detach()

    for _ in range(args.warmup):
        step()
    if args.profile:
        from torch_op_kinds import profile_steps
        print(json.dumps(profile_steps(step, args.steps)), flush=True)
        return 0
    times = []
    loss = None
    for _ in range(args.steps):
        t0 = time.perf_counter()
        loss = step()
        times.append(time.perf_counter() - t0)

    med = statistics.median(times) if times else float("nan")
    result = {
        "framework": "pytorch (compile)" if args.compile else "pytorch",
        "samples_per_s": args.batch / med if times else None,
        "step_ms_median": med * 1e3 if times else None,
        "step_ms_mean": statistics.fmean(times) * 1e3 if times else None,
        "params": params,
        "state_bytes": state_bytes,
        "conv2d": convs,
        "batch_norm": bns,
        "linear": linears,
        "depth": args.depth,
        "batch": args.batch,
        "image_size": args.image_size,
        "classes": args.classes,
        "steps": args.steps,
        "warmup": args.warmup,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "final_loss": float(loss) if loss is not None else None,
        # Peak resident set of the whole process (Python and the torch libraries included).
        "rss_peak_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }
    if args.json:
        print(json.dumps(result), flush=True)
        return 0
    print(f"pytorch {torch.__version__}  threads {result['threads']}")
    print(f"model resnet_cifar depth {args.depth} (n = {(args.depth - 2) // 9}), "
          f"batch {args.batch}, image {args.image_size}, classes {args.classes}")
    print(f"  parameters   {params:,}")
    print(f"  state bytes  {state_bytes:,}")
    print(f"  conv2d {convs}, batch_norm {bns}, linear {linears}")
    if times:
        print(f"  {args.steps} timed steps after {args.warmup} warmup: "
              f"median {result['step_ms_median']:.1f} ms/step, "
              f"{result['samples_per_s']:.1f} samples/s, final loss {result['final_loss']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
