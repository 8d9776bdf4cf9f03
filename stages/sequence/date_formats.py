"""Date-format normalisation: many human ways of writing a date → ISO 8601, generated from a seed.

The task where attention's effect is unmistakable: the output's characters each copy (or translate) a
few input characters whose position depends on the format, so a decoder that can look back at the
input (attention) learns it in minutes, and one that must squeeze the whole input into one vector
does not. Dates are drawn uniformly from 1900-01-01 to 2099-12-31 and written in one of
:data:`FORMATS` (English names, written here rather than by ``strftime``, whose names follow the
locale). No format is ambiguous: the one numeric day-month order (US, ``5/3/1987``) has slashes,
the other (``3.5.1987``) dots.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import numpy as np

MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
FIRST, LAST = dt.date(1900, 1, 1).toordinal(), dt.date(2099, 12, 31).toordinal()
ISO_LENGTH = 10  # YYYY-MM-DD


def ordinal(n: int) -> str:
    """``1`` → ``1st``, ``12`` → ``12th``, ``22`` → ``22nd``."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _month(d: dt.date) -> str:
    return MONTHS[d.month - 1]


FORMATS: dict[str, Callable[[dt.date], str]] = {
    "d_month_y": lambda d: f"{d.day} {_month(d)} {d.year}",                       # 3 May 1987
    "month_d_y": lambda d: f"{_month(d)} {d.day}, {d.year}",                      # May 3, 1987
    "dd_mon_y": lambda d: f"{d.day:02d} {_month(d)[:3]} {d.year}",                # 03 May 1987
    "mon_d_y": lambda d: f"{_month(d)[:3]} {d.day} {d.year}",                     # May 3 1987
    "weekday": lambda d: f"{DAYS[d.weekday()]}, {d.day} {_month(d)} {d.year}",    # Sunday, 3 May 1987
    "wkd_mon": lambda d: f"{DAYS[d.weekday()][:3]} {_month(d)[:3]} {d.day} {d.year}",  # Sun May 3 1987
    "ordinal": lambda d: f"the {ordinal(d.day)} of {_month(d)} {d.year}",         # the 3rd of May 1987
    "upper": lambda d: f"{d.day} {_month(d).upper()} {d.year}",                   # 3 MAY 1987
    "lower": lambda d: f"{_month(d).lower()} {d.day} {d.year}",                   # may 3 1987
    "us": lambda d: f"{d.month}/{d.day}/{d.year}",                                # 5/3/1987
    "dots": lambda d: f"{d.day}.{d.month}.{d.year}",                              # 3.5.1987
    "compact": lambda d: f"{d.year}{d.month:02d}{d.day:02d}",                     # 19870503
}


def iso(d: dt.date) -> str:
    return d.isoformat()


def generate(rng: np.random.Generator, n: int, formats: list[str] | None = None) -> tuple[list[str], list[str], list[str]]:
    """``n`` examples: (human-written dates, their ISO forms, the format of each)."""
    names = list(formats or FORMATS)
    unknown = [f for f in names if f not in FORMATS]
    if unknown:
        raise ValueError(f"unknown date format(s) {', '.join(unknown)} (known: {', '.join(FORMATS)})")
    days = rng.integers(FIRST, LAST + 1, n)
    picks = rng.integers(0, len(names), n)
    dates = [dt.date.fromordinal(int(o)) for o in days]
    chosen = [names[i] for i in picks]
    return [FORMATS[f](d) for f, d in zip(chosen, dates)], [iso(d) for d in dates], chosen
