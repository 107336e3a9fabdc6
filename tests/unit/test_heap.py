"""The long-lived heap is frozen while the app serves, and unfrozen after."""

from __future__ import annotations

import gc

from server.heap import freeze_long_lived, frozen_heap


def test_frozen_heap_freezes_then_unfreezes() -> None:
    gc.unfreeze()
    kept = [{"problem": n} for n in range(1000)]
    with frozen_heap() as frozen:
        assert frozen >= len(kept) and gc.get_freeze_count() >= len(kept)
        later = [{"problem": n} for n in range(500)]
        assert freeze_long_lived() >= len(kept) + len(later)
    assert gc.get_freeze_count() == 0
