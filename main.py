"""PAV desktop app: `python main.py [--checkpoint CKPT] [--train DATA] [--head-model SPEC]`.

Argument parsing and wiring only; the app lives in viewer/, the method in pav/.
"""
from __future__ import annotations

import argparse
import sys


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="PAV: drive a personalized head avatar live.")
    p.add_argument("--checkpoint", help="avatar checkpoint to open (default: the bundled demo avatar)")
    p.add_argument("--train", metavar="DATA", help="train on a collection in the background while viewing")
    p.add_argument("--head-model", default="default", help="'default' or a FLAME generic_model.pkl")
    p.add_argument("--size", type=int, nargs=2, default=(1280, 800), metavar=("W", "H"), help="window size")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    import pav
    from viewer.scenes import head_model_scene

    try:
        if args.checkpoint or args.train:
            raise ValueError("avatars (--checkpoint/--train) are not available in this build yet; "
                             "run without arguments to explore the head model")
        scene = head_model_scene(pav.load_head_model(args.head_model))
        from viewer.app import App

        App(scene, size=tuple(args.size)).run()
    except (ValueError, FileNotFoundError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
