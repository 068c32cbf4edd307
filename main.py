"""PAV desktop app: `python main.py [--checkpoint CKPT] [--train DATA] [--head-model SPEC]`.

Argument parsing and wiring only; the app lives in viewer/, the method in pav/.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


MIN_WINDOW, MAX_WINDOW = 320, 16384
"""Window sizes accepted by --size (the panel needs ~320 px; larger than any screen is refused). The app
shrinks a window that does not fit on the primary screen to fit it."""


def parse_args(argv=None) -> argparse.Namespace:
    from pav.cliargs import OneLineParser, head_model_spec, int_range

    p = OneLineParser(description="PAV: drive a personalized head avatar live.")
    p.add_argument("--checkpoint", help="avatar checkpoint to open (default: the bundled demo avatar)")
    p.add_argument("--train", metavar="DATA", help="train on a collection in the background while viewing "
                                                   "(into --checkpoint, default runs/<DATA>.pav)")
    p.add_argument("--head-model", type=head_model_spec, default="default", help="'default' or a FLAME generic_model.pkl")
    p.add_argument("--play", metavar="DATA/APPEARANCE", help="load a tracked video of a collection for playback")
    p.add_argument("--drive", metavar="VIDEO", help="a new video of the same person: tracked against the avatar in "
                                                    "the background (its identity), then played (docs/reenactment.md)")
    p.add_argument("--size", type=int_range(MIN_WINDOW, MAX_WINDOW), nargs=2, default=(1280, 800), metavar=("W", "H"),
                   help=f"window size in pixels, each {MIN_WINDOW}..{MAX_WINDOW} (default 1280 800; shrunk to fit "
                        "the screen)")
    p.add_argument("--device", default="auto", help="where to render and train: auto (CUDA when available), cpu, "
                                                    "cuda or cuda:N")
    return p.parse_args(argv)


DEMO_AVATAR = Path(__file__).resolve().parent / "assets" / "demo" / "avatar.pav"


def training_scene(data: Path, out: Path | None, device: str = "auto"):
    """Train on DATA in the background (into OUT, default runs/<DATA>.pav; resumed if it exists)."""
    import threading

    from pav.data import read_collection
    from pav.train import command
    from pav.train.lock import OutputLock
    from pav.view_range import trained_view_range
    from viewer.scenes import avatar_scene
    from viewer.training import TrainingSession

    out = out or Path("runs") / f"{data.resolve().name}.pav"
    print(f"training on {data} into {out} (resumes if it exists; saved when the window closes)")
    args = argparse.Namespace(**(command.TRAIN_DEFAULTS | {"data": data, "out": out, "eval_every_s": 0,
                                                           "device": device}))
    OutputLock(out).__enter__()  # one writer per checkpoint, as `train`; released when the app exits
    avatar, trainer = command.build(args, read_collection(data))
    lock = threading.Lock()
    session = TrainingSession(trainer, lambda: command.save(avatar, trainer, args), lock)
    scene = avatar_scene(avatar, lock=lock)
    scene.view_range = trained_view_range(avatar, trainer.data)  # the panel's "trained view range", known now
    return scene, session


def main(argv=None) -> int:
    args = parse_args(argv)
    from viewer.memory import share_arenas

    share_arenas()  # first, before any thread: one malloc arena for the app's threads (viewer/memory.py)
    import pav
    from pav.allocator import tune_allocator

    tune_allocator()
    from viewer.scenes import avatar_scene, head_model_scene

    training = None
    try:
        checkpoint = Path(args.checkpoint) if args.checkpoint else (DEMO_AVATAR if DEMO_AVATAR.exists() else None)
        if args.train:
            scene, training = training_scene(Path(args.train), Path(args.checkpoint) if args.checkpoint else None,
                                             args.device)
        elif checkpoint is not None:
            head = args.head_model if args.head_model != "default" else None
            scene = avatar_scene(pav.load_avatar(checkpoint, head, device=args.device))
        else:
            scene = head_model_scene(pav.load_head_model(args.head_model, device=args.device))
        if args.play:
            from pav.data import read_collection
            from viewer.scenes import collection_sequence

            play = Path(args.play)
            scene.sequence = collection_sequence(read_collection(play.parent), play.name)
        drive = None
        if args.drive:
            from viewer.drive_job import DriveJob, drive_folder
            from viewer.paths import output_dir

            if checkpoint is None or args.train:
                raise ValueError("--drive needs an avatar checkpoint (--checkpoint, or the demo avatar)")
            if not Path(args.drive).exists():
                raise FileNotFoundError(f"--drive {args.drive}: no such video")
            drive = DriveJob(args.drive, checkpoint, drive_folder(output_dir(), Path(args.drive)))
        from viewer.app import App
        from viewer.preload import preload

        preload()  # what exports, saves and screenshots import, now: an import in a thread stalls the UI
        app = App(scene, size=tuple(args.size), training=training, drive=drive)
        app.drive_dialog.checkpoint = None if args.train else checkpoint  # "open a driving video..." in the panel
        app.run()
    except (ValueError, FileNotFoundError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
