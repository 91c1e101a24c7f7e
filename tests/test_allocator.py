"""A worker does not keep its largest case's memory (glibc): real subprocesses, RSS from /proc."""

import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc and /proc")

PROBE = textwrap.dedent("""
    import sys
    import numpy as np
    import nibabel as nib
    import dicecli.allocator as allocator
    from dicecli.case import score_pair
    from dicecli.io.pairing import Pair
    from dicecli.settings import Settings

    def rss_mb():
        with open("/proc/self/status") as status:
            return next(int(l.split()[1]) for l in status if l.startswith("VmRSS")) / 1024

    folder, retain = sys.argv[1], int(sys.argv[2])
    allocator.RETAIN_BYTES = retain
    def write(name, shape, dtype):
        array = (np.arange(np.prod(shape)) % 3).astype(dtype).reshape(shape)
        nib.save(nib.Nifti1Image(array, np.eye(4)), f"{folder}/{name}.nii")  # .nii: decoded whole
        return f"{folder}/{name}.nii"
    big, small = write("big", (256, 256, 256), np.int16), write("small", (32, 32, 32), np.uint8)
    if not allocator.keep_freed_memory() or allocator._free_bytes() is None:
        print("unsupported"); sys.exit()
    start = rss_mb()
    assert score_pair(Pair("big", big, big), Settings()).counts.tp.sum() == 256 ** 3
    score_pair(Pair("small", small, small), Settings())
    print(round(rss_mb() - start))

""")


def _held_mb(tmp_path, retain: int) -> int:
    out = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path), str(retain)], capture_output=True,
                         text=True, timeout=120, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert out.returncode == 0, out.stderr
    if out.stdout.strip() == "unsupported":
        pytest.skip("no mallopt/mallinfo2 (not glibc 2.33+)")
    return int(out.stdout.strip())


def test_freed_memory_beyond_the_retained_amount_goes_back_after_a_large_case(tmp_path):
    # a 256^3 int16 pair decodes to 64 MiB (with temporaries, well over 100 MiB freed afterwards)
    kept = _held_mb(tmp_path, retain=2**62)  # the control: never trimmed, everything kept
    trimmed = _held_mb(tmp_path, retain=8 * 2**20)
    assert kept >= 64, f"the control kept only {kept} MB: the probe shows nothing"
    assert trimmed <= 8 + 24, f"held {trimmed} MB after the large case (retain 8 MB)"
