"""The neural field of PAV: hash encoding (hashgrid), per-appearance latent textures and global codes
(textures), the field MLPs (field), ray sampling and intervals (sampling), compositing (volume), and the
avatar that renders with them (avatar). Their configs live in pav.config."""
from .hashgrid import HashGrid, HashGridConfig, LevelSpec, fragile_levels, level_specs

__all__ = ["HashGrid", "HashGridConfig", "LevelSpec", "fragile_levels", "level_specs"]
