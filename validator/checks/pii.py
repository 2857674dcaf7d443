"""Personal data: emails, phone numbers, payment cards (Luhn), IBANs (mod 97), national ids
(US SSN, UK NINO). A file where at least `pii_share` of the records hold any of them is
flagged `pii`; the figures say how many records held which kind (never the values)."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator

from .base import Content, Result, Thresholds

MAX_RECORDS = 50_000

EMAIL = re.compile(r"(?<![\w.+-])[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*\.[A-Za-z]{2,24}\b")
# International (+CC …), North American (555-123-4567, (555) 123-4567) and trunk-prefixed national
# numbers (020 7946 0958, 07700 900123): 10 to 15 digits in all, never a bare run of digits.
PHONE = re.compile(
    r"(?<![\w+.])(?:\+\d{1,3}[ -]?(?:\(\d{1,4}\)[ -]?)?\d{1,4}(?:[ -]?\d{2,4}){1,4}"
    r"|\(\d{3}\) ?\d{3}-\d{4}|\d{3}-\d{3}-\d{4}|\d{3}\.\d{3}\.\d{4}"
    r"|0\d{2,4}[ -]\d{3,4}[ -]?\d{3,4})(?![\w.])"
)
CARD = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")
IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b")
SSN = re.compile(r"(?<!\d)(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?!\d)")
NINO = re.compile(
    r"\b(?!BG|GB|KN|NK|NT|TN|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b", re.IGNORECASE
)

# ISO 13616 lengths of the countries most often seen; others are checked by mod 97 alone.
IBAN_LENGTHS = {
    "AD": 24, "AT": 20, "BE": 16, "BG": 22, "CH": 21, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "EE": 20,
    "ES": 24, "FI": 18, "FR": 27, "GB": 22, "GR": 27, "HR": 21, "HU": 28, "IE": 22, "IS": 26, "IT": 27,
    "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MT": 31, "NL": 18, "NO": 15, "PL": 28, "PT": 25,
    "RO": 24, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "TR": 26,
}  # fmt: skip


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _card_network(digits: str) -> bool:
    """An issuer prefix of a real card network (Visa, Mastercard, Amex, Discover, JCB, Diners, UnionPay)."""
    n2, n4 = int(digits[:2]), int(digits[:4])
    return (
        digits[0] == "4"
        or 51 <= n2 <= 55
        or 2221 <= n4 <= 2720
        or n2 in (34, 37, 36, 38, 62, 65)
        or digits.startswith(("6011", "300", "301", "302", "303", "304", "305"))
        or 3528 <= n4 <= 3589
    )


def card_numbers(text: str) -> list[str]:
    out = []
    for match in CARD.finditer(text):
        digits = re.sub(r"[ -]", "", match.group())
        if 13 <= len(digits) <= 19 and _card_network(digits) and luhn_valid(digits) and len(set(digits)) > 1:
            out.append(digits)
    return out


def iban_valid(candidate: str) -> bool:
    iban = candidate.replace(" ", "").upper()
    expected = IBAN_LENGTHS.get(iban[:2])
    if expected is not None and len(iban) != expected:
        return False
    if not 15 <= len(iban) <= 34:
        return False
    rearranged = iban[4:] + iban[:4]
    number = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(number) % 97 == 1


def ibans(text: str) -> list[str]:
    return [m.group() for m in IBAN.finditer(text) if iban_valid(m.group())]


def phones(text: str) -> list[str]:
    out = []
    for match in PHONE.finditer(text):
        digits = re.sub(r"\D", "", match.group())
        if 10 <= len(digits) <= 15 and not _looks_like_date(match.group()):
            out.append(match.group())
    return out


def _looks_like_date(value: str) -> bool:
    return bool(re.fullmatch(r"\d{4}[-.]\d{2}[-.]\d{2}([ T]\d{2}[:.]\d{2}.*)?", value.strip()))


def kinds_in(text: str) -> set[str]:
    """Which kinds of personal data one record holds."""
    found = set()
    if "@" in text and EMAIL.search(text):
        found.add("email")
    if card_numbers(text):
        found.add("payment_card")
    if ibans(text):
        found.add("iban")
    if SSN.search(text):
        found.add("us_ssn")
    if NINO.search(text):
        found.add("uk_nino")
    if "phone" not in found and phones(text) and "payment_card" not in found:
        found.add("phone")
    return found


def records(content: Content, fmt: str) -> Iterator[str]:
    """The file's records as text: lines of text formats, items of a JSON array, rows of a
    Parquet file (string columns joined)."""
    if fmt == "parquet":
        yield from _parquet_rows(content)
        return
    if fmt not in ("csv", "json", "jsonl", "text"):
        return
    text = content.text
    if fmt == "json":
        try:
            doc = json.loads(text)
        except ValueError:
            doc = None
        if isinstance(doc, list):
            for item in doc[:MAX_RECORDS]:
                yield item if isinstance(item, str) else json.dumps(item, ensure_ascii=False)
            return
    count = 0
    for line in text.splitlines():
        if line.strip():
            yield line
            count += 1
            if count >= MAX_RECORDS:
                return


def _parquet_rows(content: Content) -> Iterator[str]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(content.open())
        count = 0
        for batch in pf.iter_batches(batch_size=4096):
            columns = [
                batch.column(i).cast(pa.string()).to_pylist()
                for i, f in enumerate(batch.schema)
                if pa.types.is_string(f.type) or pa.types.is_large_string(f.type) or pa.types.is_integer(f.type)
            ]
            for row in zip(*columns, strict=True):
                yield " | ".join(str(v) for v in row if v is not None)
                count += 1
                if count >= MAX_RECORDS:
                    return
    except Exception:  # a broken file is the structure check's finding
        return


def personal_data(content: Content, fmt: str, *, thresholds: Thresholds | None = None) -> Result:
    t = thresholds or Thresholds()
    total, hit = 0, 0
    kinds: Counter[str] = Counter()
    header_skipped = fmt != "csv"
    for record in records(content, fmt):
        if not header_skipped:
            header_skipped = True
            if not kinds_in(record):
                continue  # a CSV header is not a record
        total += 1
        found = kinds_in(record)
        if found:
            hit += 1
            kinds.update(found)
    share = hit / total if total else 0.0
    figures = {
        "records": total,
        "records_with_pii": hit,
        "share": round(share, 4),
        "kinds": dict(sorted(kinds.items())),
    }
    if total and hit >= t.pii_min_records and share >= t.pii_share:
        what = ", ".join(f"{k.replace('_', ' ')} {n}" for k, n in sorted(kinds.items(), key=lambda kv: -kv[1]))
        return Result(
            "pii",
            "pii",
            False,
            f"{hit} of {total} records ({share:.0%}) hold personal data ({what}); remove or anonymise it",
            figures,
        )
    return Result("pii", "ok", True, "", figures)
