"""Video collections on disk (format: docs/collection-format.md) and the synthetic collection generator.

    from pav.data import read_collection, load_split
    col = read_collection("data")           # validated; images load on demand
    train = load_split(col, "train")        # FrameBatch of tensors
"""
from .collection import (FORMAT_NAME, FORMAT_VERSION, SPLITS, Appearance, AppearanceEntry, Collection, Frame,
                         HeadModelRef, Manifest, View)
from .reader import read_collection
from .tensors import FrameBatch, load_split
from .writer import frame_paths, write_background, write_frame_files, write_manifest, write_transforms

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "SPLITS", "Appearance", "AppearanceEntry", "Collection", "Frame",
           "FrameBatch", "HeadModelRef", "Manifest", "View", "frame_paths", "load_split", "read_collection",
           "write_background", "write_frame_files", "write_manifest", "write_transforms"]
