"""Linear blend skinning with FLAME's layout, as pure batched, differentiable functions.

The model (FLAME, Li et al. 2017; written from the paper's equations):
    v_shaped = T + S·β + E·ψ                         (identity and expression blendshapes)
    J        = 𝒥 · v_shaped                          (joints follow shape AND expression)
    v_posed  = v_shaped + P · vec(R(θ_1..) − I)      (optional pose correctives, non-root joints)
    G_k      = G_parent(k) · [R(θ_k) | J_k − J_parent(k)]   (rest-relative world transforms)
    v        = Σ_k w_vk · G_k · [I | −J_k] · v_posed  (+ translation)

Rotations are axis-angle (Rodrigues), local to the parent joint; the root's rotation turns the whole head
about the root joint.
"""
from __future__ import annotations

from typing import NamedTuple

import torch


def rodrigues(axis_angle: torch.Tensor) -> torch.Tensor:
    """Axis-angle (..., 3) → rotation matrices (..., 3, 3). Exact at zero (a series branch keeps the
    gradient finite there)."""
    theta2 = (axis_angle * axis_angle).sum(-1, keepdim=True)[..., None]  # (..., 1, 1)
    small = theta2 < 1e-12
    theta2_safe = torch.where(small, torch.ones_like(theta2), theta2)
    theta = theta2_safe.sqrt()
    a = torch.where(small, 1.0 - theta2 / 6.0, torch.sin(theta) / theta)
    b = torch.where(small, 0.5 - theta2 / 24.0, (1.0 - torch.cos(theta)) / theta2_safe)
    x, y, z = axis_angle.unbind(-1)
    zero = torch.zeros_like(x)
    K = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], dim=-1).reshape(*axis_angle.shape[:-1], 3, 3)
    eye = torch.eye(3, dtype=axis_angle.dtype, device=axis_angle.device)
    return eye + a * K + b * (K @ K)


class SkinnedOutput(NamedTuple):
    vertices: torch.Tensor
    """(B, V, 3) posed vertices."""
    joints: torch.Tensor
    """(B, J, 3) posed joint positions."""
    rest_joints: torch.Tensor
    """(B, J, 3) joint positions before posing (after shape and expression)."""
    transforms: torch.Tensor
    """(B, J, 4, 4) per-joint skinning transforms A_k (rest-pose point → posed point)."""


def blend_shapes(coefficients: torch.Tensor, basis: torch.Tensor) -> torch.Tensor:
    """Coefficients (B, K) · basis (V, 3, K) → displacements (B, V, 3)."""
    return torch.einsum("bk,vck->bvc", coefficients, basis)


def skin(v_shaped: torch.Tensor, joint_regressor: torch.Tensor, parents: list[int], weights: torch.Tensor,
         pose: torch.Tensor, posedirs: torch.Tensor | None = None) -> SkinnedOutput:
    """Pose shaped vertices.

    v_shaped (B, V, 3); joint_regressor (J, V); parents: J ints, parents[0] == −1 and each parent before its
    child; weights (V, J); pose (B, J, 3) axis-angle; posedirs (V, 3, 9·(J−1)) or None.
    """
    B, J = pose.shape[0], pose.shape[1]
    rest_joints = torch.einsum("jv,bvc->bjc", joint_regressor, v_shaped)
    rot = rodrigues(pose)  # (B, J, 3, 3)
    eye = torch.eye(3, dtype=pose.dtype, device=pose.device)
    v_posed = v_shaped
    if posedirs is not None:
        feature = (rot[:, 1:] - eye).reshape(B, -1)
        v_posed = v_posed + blend_shapes(feature, posedirs)

    # Written as displacements from the rest pose so that zero pose returns v_shaped bit-exactly:
    #   A_k(x) = x + (R_k − I)(x − J_k) + D_k,  R_k world rotation, D_k = posed − rest joint position,
    #   R_k = R_parent · r_k,  D_k = D_parent + (R_parent − I)(J_k − J_parent).
    world_rot, disp = [rot[:, 0]], [torch.zeros_like(rest_joints[:, 0])]
    for k in range(1, J):
        p = parents[k]
        world_rot.append(world_rot[p] @ rot[:, k])
        bone = (rest_joints[:, k] - rest_joints[:, p])[..., None]
        disp.append(disp[p] + ((world_rot[p] - eye) @ bone)[..., 0])
    world_rot, disp = torch.stack(world_rot, 1), torch.stack(disp, 1)  # (B, J, 3, 3), (B, J, 3)
    rot_minus_eye = world_rot - eye
    offset = disp - (rot_minus_eye @ rest_joints[..., None])[..., 0]  # (B, J, 3)
    blended_rot = torch.einsum("vj,bjrc->bvrc", weights, rot_minus_eye)  # (B, V, 3, 3)
    blended_offset = torch.einsum("vj,bjc->bvc", weights, offset)
    vertices = v_posed + (blended_rot @ v_posed[..., None])[..., 0] + blended_offset
    joints = rest_joints + disp
    transforms = torch.zeros(B, J, 4, 4, dtype=pose.dtype, device=pose.device)
    transforms[..., :3, :3] = world_rot
    transforms[..., :3, 3] = offset  # A_k(x) = R_k x + offset_k
    transforms[..., 3, 3] = 1.0
    return SkinnedOutput(vertices, joints, rest_joints, transforms)
