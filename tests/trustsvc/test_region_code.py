"""The region's code is read from the database once per service, not once per request."""

from __future__ import annotations

import pytest

from trustsvc.storage import Database


def test_region_code_is_read_once(service, monkeypatch: pytest.MonkeyPatch) -> None:
    assert service.db.region_code() == "320000"

    def no_more_reads():
        raise AssertionError("the region was read again")

    monkeypatch.setattr(service.db, "reader", no_more_reads)
    assert service.db.region_code() == "320000"


def test_before_init_it_is_blank_and_not_remembered(tmp_path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'empty.db'}")
    try:
        db.migrate()
        assert db.region_code() == ""
        assert db._region_code is None  # read again once a region exists
    finally:
        db.dispose()
