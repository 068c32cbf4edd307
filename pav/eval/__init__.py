"""Evaluation: image metrics and the evaluation of an avatar on a collection split."""
from .evaluate import evaluate
from .metrics import psnr, ssim

__all__ = ["evaluate", "psnr", "ssim"]
