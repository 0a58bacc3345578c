"""A GPT in nanoGPT's architecture (token and position embeddings, pre-norm blocks of causal
self-attention and a GELU MLP, weight-tied head), written here: forward with and without targets,
generate() under @torch.no_grad(), and a few AdamW steps, each run compiled and eagerly from the same
start. `GPT.small()` is the overhead-bound size the bench times (2 layers x 32 wide), `GPT.medium()` the
compute-bound one (6 x 256). Under plain python3 it runs eagerly."""

import copy
import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

try:
    import capture
except ImportError:  # plain python3: the eager reference
    capture = None


@dataclass
class GPTConfig:
    block_size: int = 64
    vocab_size: int = 128
    n_layer: int = 2
    n_head: int = 4
    n_embd: int = 32
    dropout: float = 0.0
    bias: bool = True


class CausalSelfAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        assert config.n_embd % config.n_head == 0
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.attn_dropout = nn.Dropout(config.dropout)
        self.resid_dropout = nn.Dropout(config.dropout)
        self.n_head = config.n_head
        self.n_embd = config.n_embd
        mask = torch.tril(torch.ones(config.block_size, config.block_size))
        self.register_buffer("bias", mask.view(1, 1, config.block_size, config.block_size))

    def forward(self, x):
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        att = att.masked_fill(self.bias[:, :, :T, :T] == 0, float("-inf"))
        att = F.softmax(att, dim=-1)
        att = self.attn_dropout(att)
        y = att @ v
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x):
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd)
        self.mlp = MLP(config)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        x = x + self.mlp(self.ln_2(x))
        return x


class GPT(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(config.vocab_size, config.n_embd),
            wpe=nn.Embedding(config.block_size, config.n_embd),
            drop=nn.Dropout(config.dropout),
            h=nn.ModuleList([Block(config) for _ in range(config.n_layer)]),
            ln_f=nn.LayerNorm(config.n_embd),
        ))
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.transformer.wte.weight = self.lm_head.weight  # weight tying
        self.apply(self._init_weights)
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                torch.nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def small():
        return GPT(GPTConfig(block_size=64, vocab_size=128, n_layer=2, n_head=4, n_embd=32))

    @staticmethod
    def medium():
        return GPT(GPTConfig(block_size=256, vocab_size=512, n_layer=6, n_head=8, n_embd=256))

    def _init_weights(self, module):
        if isinstance(module, nn.Linear):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                torch.nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def forward(self, idx, targets=None):
        b, t = idx.size()
        assert t <= self.config.block_size, f"Cannot forward sequence of length {t}, block size is only {self.config.block_size}"
        pos = torch.arange(0, t, dtype=torch.long, device=idx.device).unsqueeze(0)
        tok_emb = self.transformer.wte(idx)
        pos_emb = self.transformer.wpe(pos)
        x = self.transformer.drop(tok_emb + pos_emb)
        for block in self.transformer.h:
            x = block(x)
        x = self.transformer.ln_f(x)
        if targets is not None:
            logits = self.lm_head(x)
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1)
        else:
            logits = self.lm_head(x[:, [-1], :])  # only the last position's logits
            loss = None
        return logits, loss

    @torch.no_grad()
    def generate(self, idx, max_new_tokens, temperature=1.0, top_k=None):
        for _ in range(max_new_tokens):
            idx_cond = idx if idx.size(1) <= self.config.block_size else idx[:, -self.config.block_size:]
            logits, _ = self(idx_cond)
            logits = logits[:, -1, :] / temperature
            if top_k is not None:
                v, _ = torch.topk(logits, min(top_k, logits.size(-1)))
                logits[logits < v[:, [-1]]] = -float("Inf")
            probs = F.softmax(logits, dim=-1)
            idx_next = torch.multinomial(probs, num_samples=1)
            idx = torch.cat((idx, idx_next), dim=1)
        return idx


def batch(config, batch_size=4, length=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    idx = torch.randint(0, config.vocab_size, (batch_size, length), generator=g)
    targets = torch.randint(0, config.vocab_size, (batch_size, length), generator=g)
    return idx, targets


def train(model, run, idx, targets, steps=4):
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(steps):
        _, loss = run(idx, targets)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


torch.manual_seed(0)
model = GPT.small().eval()
idx, targets = batch(model.config)
EXAMPLES = {"model": lambda: (idx,)}

if __name__ == "__main__":
    compiled = capture.compile(model) if capture else model
    with torch.no_grad():
        logits, _ = compiled(idx)
        expected, _ = model(idx)
    print(f"logits {tuple(logits.shape)}: matches eager: {torch.allclose(logits, expected, rtol=1e-4, atol=1e-5)}")
    logits, loss = compiled(idx, targets)
    expected_logits, expected_loss = model(idx, targets)
    print(f"loss {loss.item():.4f}: matches eager: {torch.allclose(loss, expected_loss, rtol=1e-4, atol=1e-5)}")

    generate = capture.compile(model.generate) if capture else model.generate
    torch.manual_seed(1)
    tokens = generate(idx[:1, :4], max_new_tokens=8, top_k=10)
    torch.manual_seed(1)
    expected_tokens = model.generate(idx[:1, :4], max_new_tokens=8, top_k=10)
    print(f"generated {tokens.shape[1] - 4} tokens: matches eager: {torch.equal(tokens, expected_tokens)}")

    trained = copy.deepcopy(model).train()
    reference = copy.deepcopy(model).train()
    losses = train(trained, capture.compile(trained) if capture else trained, idx, targets)
    eager = train(reference, reference, idx, targets)
    worst = max(abs(a - b) / abs(b) for a, b in zip(losses, eager))
    print("AdamW losses: " + ", ".join(f"{loss:.4f}" for loss in losses) + f": match eager: {worst < 1e-4}")

    if capture:
        with torch.no_grad():
            for name, fn, args in (("forward", model, (idx,)), ("forward with targets", model, (idx, targets)),
                                   ("generate", model.generate, (idx[:1, :4], 4))):
                report = capture.explain(fn, *args)
                print(f"{name}: {report.graph_count} graph(s), {report.graph_break_count} break(s)"
                      + "".join(f"\n  {b.reason} ({b.filename}:{b.lineno})" for b in report.break_reasons))
