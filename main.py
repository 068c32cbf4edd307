"""PAV desktop app: `python main.py [--checkpoint CKPT] [--train DATA] [--head-model SPEC]`.

Argument parsing and wiring only; the app lives in viewer/, the method in pav/.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="PAV: drive a personalized head avatar live.")
    p.add_argument("--checkpoint", help="avatar checkpoint to open (default: the bundled demo avatar)")
    p.add_argument("--train", metavar="DATA", help="train on a collection in the background while viewing")
    p.add_argument("--head-model", default="default", help="'default' or a FLAME generic_model.pkl")
    p.add_argument("--play", metavar="DATA/APPEARANCE", help="load a tracked video of a collection for playback")
    p.add_argument("--size", type=int, nargs=2, default=(1280, 800), metavar=("W", "H"), help="window size")
    return p.parse_args(argv)


DEMO_AVATAR = Path(__file__).resolve().parent / "assets" / "demo" / "avatar.pav"


def main(argv=None) -> int:
    args = parse_args(argv)
    import pav
    from viewer.scenes import avatar_scene, head_model_scene

    try:
        if args.train:
            raise ValueError("--train (training inside the app) is not available in this build yet; "
                             "train with `python -m pav train DATA --out CKPT`, then open CKPT")
        checkpoint = Path(args.checkpoint) if args.checkpoint else (DEMO_AVATAR if DEMO_AVATAR.exists() else None)
        if checkpoint is not None:
            head = args.head_model if args.head_model != "default" else None
            scene = avatar_scene(pav.load_avatar(checkpoint, head))
        else:
            scene = head_model_scene(pav.load_head_model(args.head_model))
        if args.play:
            from pav.data import read_collection
            from viewer.scenes import collection_sequence

            play = Path(args.play)
            scene.sequence = collection_sequence(read_collection(play.parent), play.name)
        from viewer.app import App

        App(scene, size=tuple(args.size)).run()
    except (ValueError, FileNotFoundError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
