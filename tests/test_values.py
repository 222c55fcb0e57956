import datetime as dt

import pytest

from extractor.parse.values import case_number, parse_date, state_code, strength_key


@pytest.mark.parametrize(
    ("text", "reference", "expected"),
    [
        ("10-13-16", dt.date(2017, 1, 4), dt.date(2016, 10, 13)),
        ("10/13/2016", None, dt.date(2016, 10, 13)),
        ("7/31/2001", None, dt.date(2001, 7, 31)),
        ("2016-12-06", None, dt.date(2016, 12, 6)),
        ("October 10, 2015", None, dt.date(2015, 10, 10)),
        ("3/4/95", dt.date(2017, 1, 4), dt.date(1995, 3, 4)),  # 2095 would be after the letter
        ("13/45/2016", None, None),
        ("not a date", None, None),
    ],
)
def test_parse_date(text: str, reference: dt.date | None, expected: dt.date | None) -> None:
    assert parse_date(text, reference=reference) == expected


@pytest.mark.parametrize(("name", "code"), [("New York", "NY"), ("north carolina", "NC"), ("CA", "CA"), ("Atlantis", None)])
def test_state_code(name: str, code: str | None) -> None:
    assert state_code(name) == code


def test_case_number_and_strength_normalisation() -> None:
    assert case_number(" cm16 - 0230548 ") == "CM16-0230548"
    assert strength_key("5mcg/hr") == strength_key("5 mcg/hr")
