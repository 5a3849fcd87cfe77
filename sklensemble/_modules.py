"""The torch modules behind the sequence classifiers.

Both take a batch of shape ``(batch, sequence_length, n_features)`` and
return class logits of shape ``(batch, n_classes)``.
"""

import math

import torch
from torch import nn


class AttentionLSTM(nn.Module):
    """Bidirectional LSTM, multi-head self-attention over its outputs, MLP head.

    The attention block is residual with LayerNorm; the head reads the
    representation of the last time step (the current bar), which after
    attention summarises the whole window.
    """

    def __init__(
        self, n_features, n_classes, hidden_size, num_layers, num_heads, dropout
    ):
        super().__init__()
        self.lstm = nn.LSTM(
            n_features,
            hidden_size,
            num_layers=num_layers,
            batch_first=True,
            bidirectional=True,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        width = 2 * hidden_size
        self.attention = nn.MultiheadAttention(
            width, num_heads, dropout=dropout, batch_first=True
        )
        self.norm = nn.LayerNorm(width)
        self.head = nn.Sequential(
            nn.Linear(width, hidden_size),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(hidden_size, n_classes),
        )

    def forward(self, X):
        out, _ = self.lstm(X)
        attended, _ = self.attention(out, out, out, need_weights=False)
        out = self.norm(out + attended)
        return self.head(out[:, -1])


class PositionalEncoding(nn.Module):
    """Fixed sinusoidal positional encoding (Vaswani et al., 2017).

    Computed for the sequence length at hand, so no maximum length is baked
    into the weights.
    """

    def __init__(self, d_model):
        super().__init__()
        self.d_model = d_model

    def forward(self, X):
        n_steps = X.shape[1]
        position = torch.arange(n_steps, device=X.device, dtype=X.dtype)[:, None]
        div = torch.exp(
            torch.arange(0, self.d_model, 2, device=X.device, dtype=X.dtype)
            * (-math.log(10000.0) / self.d_model)
        )
        encoding = torch.zeros(n_steps, self.d_model, device=X.device, dtype=X.dtype)
        encoding[:, 0::2] = torch.sin(position * div)
        encoding[:, 1::2] = torch.cos(position * div)[:, : self.d_model // 2]
        return X + encoding


class TransformerEncoderNet(nn.Module):
    """Linear projection, positional encoding, Transformer encoder, pooling, head."""

    def __init__(
        self,
        n_features,
        n_classes,
        d_model,
        num_layers,
        num_heads,
        dim_feedforward,
        dropout,
        pooling,
    ):
        super().__init__()
        self.pooling = pooling
        self.projection = nn.Linear(n_features, d_model)
        self.positional = PositionalEncoding(d_model)
        layer = nn.TransformerEncoderLayer(
            d_model,
            num_heads,
            dim_feedforward=dim_feedforward,
            dropout=dropout,
            batch_first=True,
            norm_first=True,
        )
        # enable_nested_tensor only helps with padding masks, which we never use.
        self.encoder = nn.TransformerEncoder(
            layer, num_layers, enable_nested_tensor=False
        )
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, n_classes)

    def forward(self, X):
        out = self.encoder(self.positional(self.projection(X)))
        pooled = out[:, -1] if self.pooling == "last" else out.mean(dim=1)
        return self.head(self.norm(pooled))
