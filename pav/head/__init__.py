"""Parametric head models with FLAME's layout: the built-in model and official FLAME files."""
from .lbs import rodrigues, skin
from .model import HeadModel, HeadOutput, load_head_model

__all__ = ["HeadModel", "HeadOutput", "load_head_model", "rodrigues", "skin"]
