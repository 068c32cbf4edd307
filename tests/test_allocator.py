"""The allocator tuning: takes effect on glibc, is idempotent, and is never a side effect of `import pav`."""
import subprocess
import sys
from pathlib import Path

import pytest

from pav.allocator import tune_allocator

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_tuning_takes_effect_and_is_idempotent():
    assert tune_allocator() is True and tune_allocator() is True


def test_import_pav_does_not_tune():
    code = "import pav, pav.allocator as a; print(a._state)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "{}"
