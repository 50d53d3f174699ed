import subprocess
import sys

import pytest

from watui.domain.errors import WatuiError
from watui.lock import InstanceLock


def test_a_second_instance_on_the_same_data_dir_is_refused(tmp_path):
    first = InstanceLock(tmp_path).acquire()
    with pytest.raises(WatuiError, match=r"another watui is already running on .* \(pid \d+\)"):
        InstanceLock(tmp_path).acquire()
    first.release()
    InstanceLock(tmp_path).acquire().release()  # free again once the first let go
    assert oct((tmp_path / "watui.lock").stat().st_mode & 0o777) == "0o600"


def test_the_lock_dies_with_its_process(tmp_path):
    """A crashed watui never leaves a stale lock: the kernel drops an flock with its owner."""
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from pathlib import Path; from watui.lock import InstanceLock; "
         f"InstanceLock(Path({str(tmp_path)!r})).acquire(); print('held', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(WatuiError, match=f"pid {holder.pid}"):
            InstanceLock(tmp_path).acquire()
    finally:
        holder.kill()
        holder.wait()
    InstanceLock(tmp_path).acquire().release()
