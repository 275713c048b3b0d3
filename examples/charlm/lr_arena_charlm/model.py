"""A small GPT-style Transformer that reads a window of characters and scores the next one."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lr_arena_charlm.data import CONTEXT, VOCABULARY


class Block(nn.Module):
    """Pre-norm: x + attention(norm(x)), then x + mlp(norm(x))."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.norm2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, width = x.shape
        q, k, v = self.qkv(self.norm1(x)).split(width, dim=2)
        q, k, v = (t.view(batch, length, self.heads, width // self.heads).transpose(1, 2) for t in (q, k, v))
        attended = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(attended.transpose(1, 2).reshape(batch, length, width))
        return x + self.mlp(self.norm2(x))


class CharTransformer(nn.Module):
    def __init__(self, layers: int = 2, heads: int = 2, head_width: int = 16):
        super().__init__()
        width = heads * head_width
        self.embed = nn.Embedding(VOCABULARY, width)
        self.position = nn.Parameter(torch.zeros(CONTEXT, width))
        self.blocks = nn.Sequential(*(Block(width, heads) for _ in range(layers)))
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, VOCABULARY)
        nn.init.normal_(self.position, std=0.02)

    def forward(self, characters: torch.Tensor) -> torch.Tensor:
        # Synthetic runs (TrainConfig.synthetic) feed random floats of the input shape: read them as codes too.
        codes = characters.long().clamp(0, VOCABULARY - 1)
        x = self.embed(codes) + self.position[: codes.shape[1]]
        x = self.norm(self.blocks(x))
        return self.head(x[:, -1])  # the next character's scores, from the last position


def build(layers: int = 2, heads: int = 2, head_width: int = 16) -> nn.Module:
    return CharTransformer(layers, heads, head_width)
