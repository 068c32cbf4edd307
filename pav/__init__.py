"""PAV: personalized head avatars from unstructured video collections (core library).

Pure torch/numpy; runs on CPU; never imports a GUI or GL module (tests/test_imports.py proves it).
"""
from .camera import Camera, look_at, orbit
from .checkpoint import load_avatar
from .head import HeadModel, HeadOutput, load_head_model

__version__ = "0.1.0"
__all__ = ["Camera", "HeadModel", "HeadOutput", "load_avatar", "load_head_model", "look_at", "orbit", "__version__"]
