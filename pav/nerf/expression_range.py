"""The range of expressions an avatar was trained on, and the field's conditioning kept inside it.

The canonical field is conditioned on the frame's expression (DESIGN §1). Its MLPs have seen only the
training frames' expressions; driven by larger ones (a new video, a slider at its end) density and colour
extrapolate, and on real footage the face turned pale and see-through (docs/reenactment.md). The mesh
follows every expression (the head model deforms it); only the field's conditioning is clamped, per
coefficient, to the range the training frames span. Written into the checkpoint's info at training time
(`pav train`); an avatar without it is not clamped. Within the range the clamp is the identity, so
training and the training frames' renders are unchanged.
"""
from __future__ import annotations

import torch


def trained_expression_range(expression: torch.Tensor) -> dict:
    """{"lo": [E floats], "hi": [E floats]}: per-coefficient min and max of the training frames' expressions (N, E)."""
    e = expression.detach().double().cpu()
    return {"lo": e.min(0).values.tolist(), "hi": e.max(0).values.tolist()}


def clamp_expression(expression: torch.Tensor, expression_range: dict | None) -> torch.Tensor:
    """expression (..., E) clamped per coefficient into `expression_range` (None or {}: unchanged)."""
    if not expression_range:
        return expression
    lo = torch.as_tensor(expression_range["lo"], dtype=expression.dtype, device=expression.device)
    hi = torch.as_tensor(expression_range["hi"], dtype=expression.dtype, device=expression.device)
    if lo.shape[-1] != expression.shape[-1]:
        raise ValueError(f"the checkpoint's expression range has {lo.shape[-1]} coefficients, the expression "
                         f"{expression.shape[-1]}: the avatar and its head model do not match")
    return torch.maximum(torch.minimum(expression, hi), lo)
