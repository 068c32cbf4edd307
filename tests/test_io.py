"""Atomic writes: all or nothing, usual permissions."""
import os

import numpy as np
import pytest

from pav.io import atomic_path, read_png, write_json, write_png


def test_failed_write_leaves_the_old_file_and_no_temp(tmp_path):
    target = tmp_path / "a.json"
    write_json(target, {"x": 1})
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash mid-write")
    assert target.read_text().strip().replace(" ", "").replace("\n", "") == '{"x":1}'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]


def test_written_files_get_umask_permissions(tmp_path):
    umask = os.umask(0o022)
    try:
        write_json(tmp_path / "b.json", [1])
    finally:
        os.umask(umask)
    assert (tmp_path / "b.json").stat().st_mode & 0o777 == 0o644


def test_png_round_trip_and_errors(tmp_path):
    image = (np.arange(4 * 5 * 3) % 256).astype(np.uint8).reshape(4, 5, 3)
    write_png(tmp_path / "i.png", image)
    assert np.array_equal(read_png(tmp_path / "i.png"), image)
    (tmp_path / "bad.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="bad.png is unreadable or corrupt"):
        read_png(tmp_path / "bad.png")
    with pytest.raises(FileNotFoundError, match="image not found"):
        read_png(tmp_path / "missing.png")
    with pytest.raises(ValueError, match=r"got \(4, 5, 2\)"):
        write_png(tmp_path / "x.png", np.zeros((4, 5, 2), np.uint8))
