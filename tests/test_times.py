"""The stored timestamp format, one place (batchmap.times)."""

import datetime as dt

from batchmap import times


def test_iso_now_is_the_stored_form_of_now() -> None:
    before = times.now()
    text = times.iso_now()
    after = times.now()
    parsed = times.parse_iso(text)
    assert parsed is not None and before - dt.timedelta(microseconds=1) <= parsed <= after
    assert len(text) == len(str(times.iso(before)))  # microseconds and a Z, like iso()
    again = times.iso_now()  # the same second's text, reused
    assert again[:19] == text[:19] or again > text
