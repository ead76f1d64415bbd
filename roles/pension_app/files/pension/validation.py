"""What a request must carry, checked before anything touches the database.

A field that is wrong gives the caller its name and the reason (422); a body that is not a
JSON object gives 400. Amounts are decimals (never floats) with at most two places."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from typing import Any

REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
ID_NUMBER = re.compile(r"^\d{17}[\dX]$")
WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_DIGITS = "10X98765432"  # GB 11643: the 18th character from the weighted sum mod 11
GRADES = range(1, 16)
MAX_AMOUNT = Decimal("100000")
CENT = Decimal("0.01")


class BadRequest(Exception):
    """The body is not a JSON object (400)."""


class Invalid(Exception):
    """Fields that are wrong, each with its reason (422)."""

    def __init__(self, fields: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in fields.items()))
        self.fields = fields


def id_number_problem(value: Any) -> str | None:
    """Why `value` is not an 18-character resident ID number (GB 11643), or None."""
    if not isinstance(value, str) or not ID_NUMBER.match(value.upper()):
        return "must be an 18-character resident ID number (17 digits, then a digit or X)"
    value = value.upper()
    try:
        dt.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return "characters 7-14 must be a birth date (YYYYMMDD)"
    total = sum(int(c) * w for c, w in zip(value[:17], WEIGHTS, strict=True))
    if CHECK_DIGITS[total % 11] != value[17]:
        return f"check digit is wrong (expected {CHECK_DIGITS[total % 11]})"
    return None


def _text(body: dict[str, Any], key: str, problems: dict[str, str], limit: int = 64) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > limit:
        problems[key] = f"must be a non-empty string of at most {limit} characters"
        return ""
    return value.strip()


def _common(body: Any) -> tuple[dict[str, Any], dict[str, str]]:
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    problems: dict[str, str] = {}
    request_id = body.get("request_id")
    if not isinstance(request_id, str) or not REQUEST_ID.match(request_id):
        problems["request_id"] = "must be 1-64 characters of A-Z a-z 0-9 . _ : -"
    problem = id_number_problem(body.get("id_number"))
    if problem:
        problems["id_number"] = problem
    clean = {"request_id": request_id, "id_number": str(body.get("id_number", "")).upper()}
    return clean, problems


def enrollment(body: Any, today: dt.date) -> dict[str, Any]:
    clean, problems = _common(body)
    clean["name"] = _text(body, "name", problems)
    clean["township"] = _text(body, "township", problems)
    clean["date"] = today
    if body.get("date") is not None:
        try:
            clean["date"] = dt.date.fromisoformat(str(body["date"]))
        except ValueError:
            problems["date"] = "must be a date YYYY-MM-DD"
    if problems:
        raise Invalid(problems)
    return clean


def _year(value: Any, today: dt.date, problems: dict[str, str]) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 2009 <= value <= today.year + 1:
        problems["year"] = f"must be a year from 2009 (the scheme's start) to {today.year + 1}"
        return 0
    return value


def _amount(value: Any, problems: dict[str, str]) -> Decimal:
    amount = None
    if isinstance(value, int | float | str) and not isinstance(value, bool):
        try:
            amount = Decimal(str(value).strip())
        except InvalidOperation:
            amount = None
    if amount is None or not amount.is_finite() or not 0 < amount <= MAX_AMOUNT or amount != amount.quantize(CENT):
        problems["amount"] = f"must be a positive amount in yuan of at most {MAX_AMOUNT}, at most two decimals"
        return Decimal(0)
    return amount.quantize(CENT)


def contribution(body: Any, today: dt.date) -> dict[str, Any]:
    clean, problems = _common(body)
    clean["year"] = _year(body.get("year"), today, problems)
    grade = body.get("grade")
    if isinstance(grade, bool) or not isinstance(grade, int) or grade not in GRADES:
        problems["grade"] = f"must be a contribution grade from {GRADES.start} to {GRADES.stop - 1}"
    clean["grade"] = grade
    clean["amount"] = _amount(body.get("amount"), problems)
    if problems:
        raise Invalid(problems)
    return clean
