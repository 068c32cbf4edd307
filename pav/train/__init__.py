"""Training: the Trainer (step API, resumable state) and the occupancy grid."""
from .trainer import StepStats, Trainer

__all__ = ["StepStats", "Trainer"]
