"""`python tests/tiny_cli.py train DATA --out X ...`: PAV's real command line (`pav.cli.main`: the same
files, lock, signals and exit codes as `python -m pav`) with the presets shrunk to the tests' small model
and batch, so that a subprocess trains a step in a few milliseconds. Only `pav.train.command.preset` is
replaced; tests/test_faults.py drives it with kill -9, SIGINT, SIGTERM, a full disk and a second run."""
import sys

import torch

import pav.train.command as command
from pav.cli import main
from pav.config import ModelConfig
from pav.config import preset as real_preset
from pav.nerf.hashgrid import HashGridConfig


def tiny_preset(name: str, variant: str = "full"):
    """The named preset's training config with a small batch, and tests/test_avatar.py's small model."""
    _, train = real_preset(name, variant)
    grid = HashGridConfig(n_levels=4, log2_hashmap_size=10, finest_resolution=64)
    model = ModelConfig(variant=variant, hashgrid=grid, texture_resolution=16, texture_channels=4, samples_per_ray=8,
                        occupancy_resolution=8)
    train.rays_per_step, train.frames_per_step, train.occupancy_every, train.occupancy_warmup = 64, 2, 4, 6
    return model, train


if __name__ == "__main__":
    torch.set_num_threads(1)
    command.preset = tiny_preset
    sys.exit(main(sys.argv[1:]))
