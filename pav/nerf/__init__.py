"""The neural field of PAV: hash encoding, (later) textures, field MLPs, sampling and compositing."""
from .hashgrid import HashGrid, HashGridConfig, LevelSpec, fragile_levels, level_specs

__all__ = ["HashGrid", "HashGridConfig", "LevelSpec", "fragile_levels", "level_specs"]
