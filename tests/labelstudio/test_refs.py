"""Task references for Label Studio: opaque, stable, readable only with the project's key (no server needed)."""

from __future__ import annotations

import base64
import stat

import pytest

from tasks.errors import ConfigError
from tasks.queues.label_studio import REF_KEY_FILE, TaskRef, ref_key


def test_a_reference_is_stable_opaque_and_opens_only_with_its_key() -> None:
    refs = TaskRef(b"k" * 32)
    aid, item = "5f2b8c3a0d9e4f1a2b3c4d5e6f708192", "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
    ref = refs.seal(aid, item)
    assert refs.seal(aid, item) == ref  # a re-push finds the task again
    assert refs.open(ref) == (aid, item)
    assert aid not in ref and item not in ref
    assert refs.seal(aid, "0a1b2c3d4e5f60718293a4b5c6d7e8f8") != ref
    # every assignment id of one shape gives a reference of one length: nothing to tell kinds by
    assert len({len(refs.seal(f"{k:032x}", item)) for k in range(50)}) == 1
    assert TaskRef(b"x" * 32).open(ref) is None
    raw = bytearray(base64.urlsafe_b64decode(ref + "=" * (-len(ref) % 4)))
    raw[-1] ^= 1
    assert refs.open(base64.urlsafe_b64encode(bytes(raw)).decode()) is None  # tampered
    for junk in (None, 7, "", "not base64!", "abc"):
        assert refs.open(junk) is None


def test_the_key_is_made_once_private_and_kept(tmp_path) -> None:
    key = ref_key(tmp_path / "state")
    assert len(key) == 32 and ref_key(tmp_path / "state") == key
    path = tmp_path / "state" / REF_KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    for broken in ("", "not a key!"):
        path.write_text(broken)
        with pytest.raises(ConfigError, match="does not hold a task-reference key"):
            ref_key(tmp_path / "state")
