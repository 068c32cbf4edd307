"""Stand-ins for `pav track` that a DriveJob's child process imports ("drive_fakes:fake_track"); the real
tracking is tested in test_track_fit and test_drive."""
import json
import os
import time

from pav.data.synth import SynthConfig
from pav.data.synth.generate import generate


def fake_track(args, report):
    """Reports progress, records what it was asked and who ran it, and writes a tiny collection."""
    for k in range(5):
        report("landmarks", 0.1 * k)
        time.sleep(0.05)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    (args.out.parent / "asked.json").write_text(json.dumps({
        "identity": str(args.identity), "inputs": [str(p) for p in args.inputs], "test_fraction": args.test_fraction,
        "pid": os.getpid(), "nice": os.getpriority(os.PRIO_PROCESS, 0)}))
    generate(SynthConfig(appearances=1, frames=4, size=32, seed=1, texture_size=128, novel_view_frames=0), args.out)
    return 0


def failing_track(args, report):
    report("landmarks", 0.2)
    raise RuntimeError("the detector found no face\nin any frame")
