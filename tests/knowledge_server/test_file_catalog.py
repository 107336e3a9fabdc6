"""The embedded default catalog keeps its files and gives the same compare-and-set as the server's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from knowledge.catalog import CatalogConflict, Live
from knowledge.file_catalog import FileCatalog


def test_activation_is_a_compare_and_set_on_the_manifest(tmp_path: Path) -> None:
    catalog = FileCatalog(tmp_path)
    assert catalog.live() is None and catalog.claim_version() == 1
    catalog.put_snapshot(1, "{}")
    catalog.put_snapshot(2, "{}")
    first = catalog.activate(1, None)
    assert first == Live(1, 1) and catalog.versions() == [1, 2] and catalog.claim_version() == 3
    with pytest.raises(CatalogConflict) as stale:
        catalog.activate(2, None)  # someone activated v1 since this writer looked
    assert stale.value.live == first and stale.value.retryable
    assert catalog.activate(2, first) == Live(2, 2)
    assert json.loads((tmp_path / "manifest.json").read_text()) == {"active_version": 2, "epoch": 2}


def test_a_manifest_from_before_epochs_reads_as_epoch_zero(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text(json.dumps({"active_version": 4}))
    catalog = FileCatalog(tmp_path)
    assert catalog.live() == Live(4, 0)
    catalog.put_release(4, json.dumps({"version": 4}), json.dumps({"name": "kb"}))
    assert json.loads(catalog.release(4) or "") == {"version": 4}
    assert json.loads(catalog.release_source(4) or "") == {"name": "kb"}
    catalog.forget(4)
    assert catalog.release(4) is None and catalog.snapshot(4) is None
