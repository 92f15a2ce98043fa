"""--where: catalog filters that are validated, never spliced into SQL."""

import pytest

from searchd.where import FilterError, compile_where


@pytest.mark.parametrize(
    "text",
    [
        "start > 3",
        "start >= 1.5 AND end < 20",
        "video LIKE '%v001%' OR NOT (split = 'val')",
        "narration IS NOT NULL",
        "source IN ('narration', 'stride')",
        "video_uid NOT IN ('a', 'b''c')",
    ],
)
def test_valid_filters_compile(text):
    assert compile_where(text) is not None


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("colour = 'red'", "unknown column 'colour'"),
        ("start > 1; DROP TABLE clips", "unexpected"),
        ("video = 'x' OR 1=1", "column"),
        ("start > 1 -- comment", "unexpected"),
        ("start >", "expected a number"),
        ("(start > 1", "expected )"),
        ("start > 1 start", "after a complete expression"),
        ('narration = "x"', "unexpected"),
        ("sqlite_master = 1", "unknown column"),
        ("start > 99999999999999999999", "out of range"),  # overflows a database parameter
        ("start < " + "9" * 400 + ".0", "out of range"),  # a float that is infinite
        ("narration = 'a\x00b'", "NUL"),  # PostgreSQL refuses NUL in text
    ],
)
def test_bad_filters_are_one_line_errors(text, reason):
    with pytest.raises(FilterError) as info:
        compile_where(text)
    assert reason in str(info.value)
    assert "\n" not in str(info.value)


def test_empty_filter_means_none():
    assert compile_where(None) is None
    assert compile_where("   ") is None
