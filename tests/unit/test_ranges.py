"""Which buffers a GET that keeps only some spans fills (``s3fast._ranges.regions``)."""
from __future__ import annotations

from s3fast._ranges import regions


def test_spans_become_sorted_disjoint_buffers_clipped_to_the_get() -> None:
    spans = [(500, 600), (0, 100), (550, 700), (90, 120), (5000, 5100), (9000, 9100), (-50, 10)]
    assert regions(spans, 0, 9050, merge_gap=0) == [(0, 120), (500, 700), (5000, 5100), (9000, 9050)]


def test_spans_a_small_gap_apart_share_a_buffer() -> None:
    assert regions([(0, 10), (30, 40), (100, 110)], 0, 200, merge_gap=20) == [(0, 40), (100, 110)]
    assert regions([(0, 10), (30, 40)], 0, 200, merge_gap=19) == [(0, 10), (30, 40)]


def test_empty_spans_and_spans_outside_the_get_need_no_buffer() -> None:
    assert regions([(10, 10), (300, 400), (20, 30)], 0, 200, merge_gap=0) == [(20, 30)]
    assert regions([], 0, 200) == []
