#!/usr/bin/env python3
"""PyTorch twin of examples/gpt.snet, for bench/gpt_vs_torch.sh: the same GPT layer for layer (token
embedding, learned positions, pre-norm blocks of layer norm, q/k/v/out linear layers with bias, causal
scaled_dot_product_attention, GELU(tanh) MLP of 4 d; final layer norm; output projection tied to the
token embedding), trained with Adam on byte windows of a text file. Prints one JSON line: parameter
count, median seconds per timed step, peak RSS, first loss."""
import argparse, json, resource, statistics, time

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint


class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.q, self.k, self.v, self.o = (nn.Linear(d, d) for _ in range(4))
        self.fc, self.proj = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    def split(self, t):
        n, s, d = t.shape
        return t.view(n, s, self.heads, d // self.heads).transpose(1, 2)

    def forward(self, x):
        n, s, d = x.shape
        h = self.ln1(x)
        a = F.scaled_dot_product_attention(self.split(self.q(h)), self.split(self.k(h)), self.split(self.v(h)),
                                           is_causal=True)
        x = x + self.o(a.transpose(1, 2).reshape(n, s, d))
        return x + self.proj(F.gelu(self.fc(self.ln2(x)), approximate="tanh"))


class GPT(nn.Module):
    def __init__(self, vocab, layers, heads, d, seq, tied):
        super().__init__()
        self.tok = nn.Embedding(vocab, d)
        nn.init.normal_(self.tok.weight, std=0.01)  # sublinear's "normal" initialiser (PyTorch's is std 1)
        self.pos = nn.Parameter(torch.randn(seq, d) * 0.01)
        self.blocks = nn.ModuleList(Block(d, heads) for _ in range(layers))
        self.ln = nn.LayerNorm(d)
        self.out = None if tied else nn.Linear(d, vocab)

    def forward(self, tokens, ckpt):
        x = self.tok(tokens) + self.pos
        for b in self.blocks:
            x = checkpoint(b, x, use_reentrant=False) if ckpt else b(x)
        h = self.ln(x)
        return h @ self.tok.weight.t() if self.out is None else self.out(h)


def main():
    p = argparse.ArgumentParser()
    for k, v in [("vocab", 256), ("layers", 4), ("heads", 4), ("d", 256), ("seq", 512), ("batch", 4), ("steps", 5),
                 ("warmup", 2), ("threads", 1)]:
        p.add_argument("--" + k, type=int, default=v)
    p.add_argument("--checkpoint", action="store_true")
    p.add_argument("--untied", action="store_true")
    p.add_argument("--text", default="/usr/share/common-licenses/GPL-3")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    data = torch.tensor(list(open(a.text, "rb").read()), dtype=torch.long)
    if len(data) <= a.seq + 1:
        raise SystemExit(f"torch_gpt: {a.text} is shorter than seq + 1 = {a.seq + 1} bytes")
    model = GPT(a.vocab, a.layers, a.heads, a.d, a.seq, not a.untied)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    times, first = [], None
    for step in range(a.warmup + a.steps):
        starts = torch.randint(0, len(data) - a.seq - 1, (a.batch,))
        win = torch.stack([data[s:s + a.seq + 1] for s in starts.tolist()])
        t0 = time.perf_counter()
        logits = model(win[:, :-1], a.checkpoint)
        loss = F.cross_entropy(logits.reshape(-1, a.vocab), win[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        dt = time.perf_counter() - t0
        if first is None:
            first = loss.item()
        if step >= a.warmup:
            times.append(dt)
    print(json.dumps({"params": sum(t.numel() for t in model.parameters()),
                      "s_per_step": statistics.median(times),
                      "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
                      "first_loss": first}))


if __name__ == "__main__":
    main()
