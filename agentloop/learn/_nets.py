"""The networks: one small transformer encoder that predicts every cell's next value, and an
autoregressive decoder that writes the next generation cell by cell.

The whole-state model and the local model are the same class: the whole-state model reads a
whole row (board); the local model reads one neighbourhood (3 cells, or 3×3) and only its centre
output is trained and used. What differs is what they are shown, which is the point of the study.
The decoder (`CellDecoder`) is the whole-state task asked the way a language model answers:
the row, a start token, then each next cell predicted from the row and the cells written so far.
Imports torch: load this module only when training.
"""

from __future__ import annotations

import math

import torch
from torch import nn

START, STOP = 2, 3  # token ids beside the cell values 0 and 1


class CellTransformer(nn.Module):
    """Cells in, one logit per cell out. Inputs are (batch, length) rows or (batch, rows, cols) boards."""

    def __init__(
        self,
        *,
        two_d: bool,
        d_model: int,
        heads: int,
        layers: int,
        positions: str = "learned",
        conv: bool = False,
        gru: bool = False,
        tokens: bool = False,
        wrap: bool = True,
        max_cells: int = 1024,
        max_side: int = 64,
    ) -> None:
        super().__init__()
        self.two_d, self.positions, self.tokens, self.wrap = two_d, positions, tokens, wrap
        self.d_model = d_model
        self.embed = nn.Embedding(4, d_model)
        self.conv: nn.Module | None = None
        if conv:
            # The padding mode matches the scenario's boundary, so the front layer sees exactly
            # the neighbourhood the rule uses: wrap-around for eca, dead cells beyond a board.
            mode = "circular" if wrap else "zeros"
            cls = nn.Conv2d if two_d else nn.Conv1d
            self.conv = cls(d_model, d_model, 3, padding=1, padding_mode=mode)
        # The recurrent layer the seed's toy transformers also tried: a bidirectional GRU over the
        # cells in reading order (a board row by row), its two directions' states side by side.
        self.gru = nn.GRU(d_model, d_model // 2, batch_first=True, bidirectional=True) if gru else None
        # Learned tables are sized for the largest evaluated input; entries beyond the trained
        # size are never updated and keep their random initial values, as in the seed's setup.
        self.pos = nn.Embedding(max_cells + 2, d_model) if positions == "learned" else None
        self.row_pos = nn.Embedding(max_side, d_model) if positions == "xy" else None
        self.col_pos = nn.Embedding(max_side, d_model) if positions == "xy" else None
        self.edge_pos = nn.Embedding(2, d_model) if positions == "xy" and tokens else None
        layer = nn.TransformerEncoderLayer(
            d_model, heads, dim_feedforward=4 * d_model, dropout=0.0, batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, 1)

    def forward(self, cells: torch.Tensor) -> torch.Tensor:
        batch = cells.shape[0]
        grid = cells.shape[1:]
        h = self.embed(cells)  # (B, *grid, D)
        if self.conv is not None:
            # channels first for the convolution, then back; residual so the cell value survives
            ch = h.movedim(-1, 1)
            h = h + self.conv(ch).movedim(1, -1)
        h = h.reshape(batch, -1, self.d_model)
        if self.gru is not None:
            out, _ = self.gru(h)
            h = h + out  # residual, as the convolution: the cell's own value survives
        n = h.shape[1]
        if self.tokens:
            start = self.embed.weight[START].expand(batch, 1, -1)
            stop = self.embed.weight[STOP].expand(batch, 1, -1)
            h = torch.cat([start, h, stop], dim=1)
        h = h + self._positions(grid, n, h.shape[1]).to(h.dtype)
        h = self.norm(self.encoder(h))
        if self.tokens:
            h = h[:, 1:-1]
        return self.head(h).squeeze(-1).reshape(batch, *grid)

    def _positions(self, grid: torch.Size, n: int, total: int) -> torch.Tensor:
        if self.positions == "learned":
            assert self.pos is not None
            return self.pos(torch.arange(total))
        if self.positions == "sinusoidal":
            return _sinusoidal(total, self.d_model)
        assert self.row_pos is not None and self.col_pos is not None and self.two_d
        rows, cols = grid
        r = torch.arange(rows).repeat_interleave(cols)
        c = torch.arange(cols).repeat(rows)
        pos = self.row_pos(r) + self.col_pos(c)
        if self.tokens:
            assert self.edge_pos is not None
            pos = torch.cat([self.edge_pos.weight[:1], pos, self.edge_pos.weight[1:]])
        return pos


def _sinusoidal(length: int, d_model: int) -> torch.Tensor:
    """The fixed positions of "Attention is all you need", defined for any length."""
    pos = torch.arange(length, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32) * (-math.log(10000.0) / d_model))
    out = torch.zeros(length, d_model)
    out[:, 0::2] = torch.sin(pos * freq)
    out[:, 1::2] = torch.cos(pos * freq[: d_model // 2])
    return out


class _CausalBlock(nn.Module):
    """A pre-norm transformer block with causal self-attention that can extend a cache of the
    keys and values of earlier positions, so generating a cell costs one position, not all."""

    def __init__(self, d_model: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.ff = nn.Sequential(nn.Linear(d_model, 4 * d_model), nn.ReLU(), nn.Linear(4 * d_model, d_model))

    def forward(
        self, h: torch.Tensor, cache: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        batch, length, d = h.shape
        q, k, v = (
            t.reshape(batch, length, self.heads, d // self.heads).transpose(1, 2)
            for t in self.qkv(self.ln1(h)).split(d, dim=-1)
        )
        if cache is not None:  # the new positions come after every cached one: they see them all
            k, v = torch.cat([cache[0], k], dim=2), torch.cat([cache[1], v], dim=2)
        # Causal among the new positions; with a cache only one position is new at a time.
        att = nn.functional.scaled_dot_product_attention(q, k, v, is_causal=cache is None)
        h = h + self.proj(att.transpose(1, 2).reshape(batch, length, d))
        return h + self.ff(self.ln2(h)), (k, v)


class CellDecoder(nn.Module):
    """A decoder-only transformer: the state's cells, a start token, then the next state's cells,
    each predicted from everything before it (causal attention). Learned positions, as the
    whole-state model's default, sized for the longest sequence evaluated."""

    def __init__(self, *, d_model: int, heads: int, layers: int, max_cells: int = 1024) -> None:
        super().__init__()
        self.embed = nn.Embedding(4, d_model)
        self.pos = nn.Embedding(2 * max_cells + 1, d_model)
        self.blocks = nn.ModuleList(_CausalBlock(d_model, heads) for _ in range(layers))
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, 1)

    def forward(self, tokens: torch.Tensor, caches: list | None = None, start: int = 0) -> tuple[torch.Tensor, list]:
        """Token ids at positions start.. → (one logit per position: the next cell after it,
        the blocks' caches extended by these positions)."""
        h = self.embed(tokens) + self.pos(torch.arange(start, start + tokens.shape[1]))
        out = []
        for i, block in enumerate(self.blocks):
            h, kv = block(h, None if caches is None else caches[i])
            out.append(kv)
        return self.head(self.norm(h)).squeeze(-1), out

    def teacher_forced(self, cells: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Logits for every cell of `target` (batch, n) given the state `cells` (batch, n) and the
        true cells before it: one pass over [cells, START, target[:-1]]."""
        batch, n = cells.shape
        start = torch.full((batch, 1), START, dtype=torch.long)
        logits, _ = self(torch.cat([cells, start, target[:, :-1]], dim=1))
        return logits[:, n:]

    @torch.no_grad()
    def generate(self, cells: torch.Tensor) -> torch.Tensor:
        """The next state (batch, n), written greedily cell by cell from the model's own cells."""
        batch, n = cells.shape
        logits, caches = self(torch.cat([cells, torch.full((batch, 1), START, dtype=torch.long)], dim=1))
        written = [(logits[:, -1] > 0).long()]
        for i in range(1, n):
            logits, caches = self(written[-1][:, None], caches, start=n + i)
            written.append((logits[:, -1] > 0).long())
        return torch.stack(written, dim=1)
