"""Each check of the validator node on real files the tests write (CSV, JSON Lines, Parquet
through pyarrow, binary disguised as CSV, files full of personal data…)."""

from __future__ import annotations

import json
import random

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from validator.checks import Content, Expected, Result, Thresholds, decide, reason_codes, run_all
from validator.checks.duplicates import Entry, SignatureIndex, near_duplicate, signature
from validator.checks.emptiness import near_empty
from validator.checks.encoding import text_encoding
from validator.checks.filetype import file_type, sniff
from validator.checks.integrity import hash_and_size
from validator.checks.pii import iban_valid, kinds_in, luhn_valid, personal_data
from validator.checks.structure import structured_data


@pytest.fixture
def write(tmp_path):
    def make(data: bytes, name: str, declared_type: str = "") -> Content:
        return Content.from_bytes(data, tmp_path / name, name=name, declared_type=declared_type)

    return make


def prose(seed: int, words: int = 600) -> str:
    rng = random.Random(seed)
    vocabulary = ["".join(rng.choice("abcdefghijklmnop") for _ in range(rng.randint(3, 8))) for _ in range(3000)]
    return " ".join(rng.choice(vocabulary) for _ in range(words))


def verdict_of(content: Content, **kw) -> tuple[str, str, list[Result]]:
    results = run_all(content, Expected(content_hash=content.sha256, size=content.size), **kw)
    verdict, reason = decide(results)
    return verdict, reason, results


# --- integrity ----------------------------------------------------------------------------------


def test_hash_and_size_pass_for_the_bytes_the_round_binds(write):
    c = write(b"id,label\n1,cat\n", "a.csv")
    result = hash_and_size(c, Expected(content_hash=c.sha256, sha256=c.sha256, keccak256=c.keccak256, size=c.size))
    assert (result.code, result.passed) == ("ok", True)


def test_other_bytes_than_the_round_binds_are_a_hash_mismatch(write):
    c = write(b"id,label\n1,cat\n", "a.csv")
    other = "0x" + "ab" * 32
    result = hash_and_size(c, Expected(content_hash=other))
    assert (result.code, result.passed) == ("hash_mismatch", False)
    assert run_all(c, Expected(content_hash=other)) == [result]  # nothing else is checked


def test_a_keccak_that_differs_from_the_record_is_a_hash_mismatch(write):
    c = write(b"id,label\n1,cat\n", "a.csv")
    result = hash_and_size(c, Expected(content_hash=c.sha256, keccak256="0x" + "00" * 32))
    assert result.code == "hash_mismatch" and "keccak" in result.detail


def test_a_size_that_differs_from_the_record_is_a_size_mismatch(write):
    c = write(b"id,label\n1,cat\n", "a.csv")
    result = hash_and_size(c, Expected(content_hash=c.sha256, size=c.size + 1))
    assert (result.code, result.figures["size"]) == ("size_mismatch", c.size)


# --- type -------------------------------------------------------------------------------------------


def test_sniffing_tells_formats_from_their_bytes(write, tmp_path):
    pq.write_table(pa.table({"x": [1, 2]}), tmp_path / "t.parquet")
    assert sniff((tmp_path / "t.parquet").read_bytes()) == "parquet"
    assert sniff(b"\x89PNG\r\n\x1a\n" + b"\0" * 20) == "png"
    assert sniff(b"\x7fELF\x02\x01\x01" + b"\0" * 50) == "elf"
    assert sniff(b"id,label\n1,cat\n2,dog\n") == "csv"
    assert sniff(b'[{"a": 1}]') == "json"
    assert sniff(b'{"a": 1}\n{"a": 2}\n') == "jsonl"
    assert sniff(b"just some words\n") == "text"
    assert sniff(bytes(range(256)) * 4) == "binary"


def test_binary_disguised_as_csv_is_a_type_mismatch(write):
    c = write(random.Random(7).randbytes(4096), "measurements.csv", "text/csv")
    result = file_type(c)
    assert (result.code, result.passed) == ("type_mismatch", False)
    assert result.figures == {"sniffed": "binary", "declared": "csv", "format": "binary"}
    verdict, reason, _ = verdict_of(c)
    assert verdict == "reject" and {"type_mismatch", "binary_in_text"} <= set(reason_codes(reason))


def test_an_executable_is_refused_whatever_it_is_called(write):
    c = write(b"\x7fELF\x02\x01\x01" + b"\x00" * 200, "photo.jpg", "image/jpeg")
    assert file_type(c).code == "executable_content"


def test_a_png_declared_as_png_passes_the_type_check(write):
    c = write(b"\x89PNG\r\n\x1a\n" + random.Random(1).randbytes(500), "cat.png", "image/png")
    assert file_type(c).passed


def test_a_png_called_json_is_a_type_mismatch(write):
    c = write(b"\x89PNG\r\n\x1a\n" + b"\0" * 100, "data.json")
    result = file_type(c)
    assert result.code == "type_mismatch" and "png" in result.detail


def test_json_lines_named_json_are_read_as_json_lines(write):
    c = write(b'{"a": 1}\n{"a": 2}\n{"a": 3}\n', "records.json")
    kind = file_type(c)
    assert kind.passed and kind.figures["format"] == "jsonl"


# --- encoding ---------------------------------------------------------------------------------------


def test_utf8_text_passes_and_a_bom_is_a_note(write):
    assert text_encoding(write("naïve,café\n".encode(), "a.csv"), "csv").code == "ok"
    bom = text_encoding(write(b"\xef\xbb\xbfname,city\nA,B\n", "b.csv"), "csv")
    assert (bom.code, bom.passed) == ("utf8_bom", True)


def test_latin1_text_is_an_invalid_encoding_with_its_line(write):
    c = write("name,city\nJosé,Málaga\n".encode("latin-1"), "people.csv")
    result = text_encoding(c, "csv")
    assert (result.code, result.passed) == ("encoding_invalid", False)
    assert "line 2" in result.detail


def test_nul_bytes_in_text_are_binary_in_text(write):
    c = write(b"name,city\n" + b"A,B\x00\x00\x00\n" * 50, "a.csv")
    result = text_encoding(c, "csv")
    assert (result.code, result.passed) == ("binary_in_text", False)
    assert result.figures["control_bytes"] == 150


def test_utf16_with_a_bom_is_decoded(write):
    c = write("name,city\nA,B\n".encode("utf-16"), "a.csv")
    assert text_encoding(c, "csv").code == "utf16_bom"


def test_the_encoding_check_does_not_apply_to_binary_formats(write):
    assert text_encoding(write(b"\x89PNG\r\n\x1a\n\0\0", "a.png"), "png").figures == {"applies": False}


# --- structure ---------------------------------------------------------------------------------


def test_a_csv_is_summarised_with_rows_and_columns(write):
    c = write(b"id,label,score\n1,cat,0.5\n2,dog,0.7\n3,bird,0.1\n", "labels.csv")
    result = structured_data(c, "csv")
    assert result.passed and result.detail == "CSV, 3 rows × 3 columns"
    assert result.figures | {"column_names": None} == {
        "format": "csv",
        "rows": 3,
        "columns": 3,
        "column_names": None,
        "header": True,
        "ragged_rows": 0,
    }
    assert result.figures["column_names"] == ["id", "label", "score"]


def test_a_semicolon_csv_is_read_with_its_delimiter(write):
    c = write(b"id;label\n1;cat\n2;dog\n", "labels.csv")
    assert structured_data(c, "csv").figures["columns"] == 2


def test_a_ragged_csv_does_not_parse(write):
    c = write(b"a,b,c\n1,2,3\n1,2\n1\n4,5,6,7\n", "ragged.csv")
    result = structured_data(c, "csv")
    assert (result.code, result.passed) == ("parse_error", False) and "usual 3 columns" in result.detail


def test_a_json_array_is_summarised(write):
    c = write(json.dumps([{"id": i, "text": f"t{i}"} for i in range(25)]).encode(), "items.json")
    result = structured_data(c, "json")
    assert (result.figures["rows"], result.figures["columns"], result.figures["column_names"]) == (
        25,
        2,
        ["id", "text"],
    )


def test_broken_json_names_where_it_breaks(write):
    c = write(b'[{"id": 1},\n {"id": 2\n]', "items.json")
    result = structured_data(c, "json")
    assert result.code == "parse_error" and "line 3" in result.detail


def test_json_lines_are_counted_and_a_broken_line_is_named(write):
    good = write(b"".join(json.dumps({"q": f"question {i}", "a": i}).encode() + b"\n" for i in range(40)), "qa.jsonl")
    assert structured_data(good, "jsonl").figures["rows"] == 40
    bad = write(b'{"q": 1}\n{"q": 2}\n{"q": \n', "qa2.jsonl")
    result = structured_data(bad, "jsonl")
    assert result.code == "parse_error" and "line 3" in result.detail


def test_a_parquet_file_written_by_pyarrow_is_summarised(write, tmp_path):
    path = tmp_path / "readings.parquet"
    pq.write_table(pa.table({"sensor": ["a", "b", "c"] * 100, "value": list(range(300))}), path, row_group_size=100)
    c = Content.from_bytes(path.read_bytes(), tmp_path / "copy.parquet", name="readings.parquet")
    result = structured_data(c, "parquet")
    assert result.passed and result.figures["rows"] == 300 and result.figures["column_names"] == ["sensor", "value"]
    assert result.figures["row_groups"] == 3
    verdict, reason, _ = verdict_of(c, index=SignatureIndex())
    assert (verdict, reason) == ("approve", "ok: Parquet, 300 rows × 2 columns")


def test_a_truncated_parquet_file_does_not_parse(write, tmp_path):
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"x": list(range(1000))}), path)
    c = write(path.read_bytes()[:-40], "t.parquet")
    assert structured_data(c, "parquet").code == "parse_error"


# --- near-empty -------------------------------------------------------------------------------------


def test_a_one_byte_newline_csv_is_near_empty(write):
    c = write(b"\n", "empty.csv", "text/csv")
    result = near_empty(c, structured_data(c, "csv"))
    assert (result.code, result.passed, result.figures["non_whitespace_bytes"]) == ("near_empty", False, 0)
    verdict, reason, _ = verdict_of(c)
    assert verdict == "reject" and reason_codes(reason) == ["near_empty"]


def test_a_csv_with_only_a_header_has_no_data_rows(write):
    c = write(b"identifier,description,category\n", "header.csv")
    structure = structured_data(c, "csv")
    assert near_empty(c, structure).passed  # one row: the Sniffer-free header test needs two rows
    empty_json = write(b"[]" + b" " * 40, "e.json")
    result = near_empty(empty_json, structured_data(empty_json, "json"), thresholds=Thresholds(min_bytes=1))
    assert result.code == "near_empty" and "no data rows" in result.detail


def test_an_empty_parquet_file_is_near_empty(tmp_path):
    path = tmp_path / "e.parquet"
    pq.write_table(pa.table({"x": pa.array([], pa.int64())}), path)
    c = Content.from_bytes(path.read_bytes(), tmp_path / "c.parquet", name="e.parquet")
    result = near_empty(c, structured_data(c, "parquet"))
    assert result.code == "near_empty" and result.figures["rows"] == 0


def test_the_min_bytes_threshold_is_configurable(write):
    c = write(b"a,b\n1,2\n", "tiny.csv")
    assert not near_empty(c).passed
    assert near_empty(c, thresholds=Thresholds(min_bytes=4)).passed


# --- personal data -----------------------------------------------------------------------------------


def test_a_file_full_of_emails_is_flagged_pii(write):
    c = write(("email\n" + "".join(f"person{i}@example.org\n" for i in range(200))).encode(), "contacts.csv")
    result = personal_data(c, "csv")
    assert (result.code, result.passed) == ("pii", False)
    assert result.figures["records"] == 200 and result.figures["kinds"] == {"email": 200}
    assert "person0@" not in result.detail  # the reason never repeats the personal data


def test_a_few_emails_in_a_large_file_stay_below_the_threshold(write):
    lines = [f"{i},reading {i * 3}" for i in range(200)] + ["201,contact ops@example.org"]
    result = personal_data(write("\n".join(["id,text", *lines]).encode(), "a.csv"), "csv")
    assert result.passed and result.figures["records_with_pii"] == 1


def test_payment_cards_count_only_when_the_luhn_check_holds():
    assert luhn_valid("4111111111111111") and not luhn_valid("4111111111111112")
    assert kinds_in("paid with 4111 1111 1111 1111") == {"payment_card"}
    assert kinds_in("paid with 4111 1111 1111 1112") == set()
    assert kinds_in("order 1234567890123456") == set()  # no card network starts with 12


def test_a_file_of_valid_card_numbers_is_pii_and_invalid_ones_are_not(write):
    valid = ["4111111111111111", "5500000000000004", "340000000000009", "6011000000000004"]
    c = write(("name,card\n" + "".join(f"n{i},{v}\n" for i, v in enumerate(valid * 5))).encode(), "cards.csv")
    result = personal_data(c, "csv")
    assert result.code == "pii" and result.figures["kinds"] == {"payment_card": 20}
    invalid = [v[:-1] + str((int(v[-1]) + 1) % 10) for v in valid]
    c2 = write(("name,card\n" + "".join(f"n{i},{v}\n" for i, v in enumerate(invalid * 5))).encode(), "cards2.csv")
    assert personal_data(c2, "csv").passed


def test_ibans_count_only_when_mod_97_holds(write):
    assert iban_valid("GB82 WEST 1234 5698 7654 32") and iban_valid("DE89370400440532013000")
    assert not iban_valid("GB82 WEST 1234 5698 7654 33") and not iban_valid("DE8937040044053201300")
    c = write(b"name,iban\nA,GB82 WEST 1234 5698 7654 32\nB,DE89370400440532013000\nC,NL91ABNA0417164300\n", "pay.csv")
    result = personal_data(c, "csv")
    assert result.code == "pii" and result.figures["kinds"] == {"iban": 3}


def test_national_ids_and_phone_numbers_are_personal_data():
    assert kinds_in("ssn 123-45-6789") == {"us_ssn"}
    assert kinds_in("ssn 000-45-6789") == set()  # never issued
    assert kinds_in("nino AB 12 34 56 C") == {"uk_nino"}
    assert kinds_in("call +44 20 7946 0958") == {"phone"}
    assert kinds_in("call (555) 123-4567") == {"phone"}
    assert kinds_in("measured 2026-12-01 12.5 13.25 14.125") == set()


def test_personal_data_in_parquet_rows_is_found(tmp_path):
    path = tmp_path / "p.parquet"
    pq.write_table(pa.table({"id": list(range(30)), "email": [f"u{i}@example.com" for i in range(30)]}), path)
    c = Content.from_bytes(path.read_bytes(), tmp_path / "c.parquet", name="p.parquet")
    result = personal_data(c, "parquet")
    assert result.code == "pii" and result.figures["records"] == 30


def test_personal_data_in_json_lines_is_found(write):
    c = write(
        b"".join(json.dumps({"name": f"n{i}", "phone": "+1 415 555 0100"}).encode() + b"\n" for i in range(10)),
        "a.jsonl",
    )
    assert personal_data(c, "jsonl").figures["kinds"] == {"phone": 10}


# --- near-duplicates -----------------------------------------------------------------------------------


def test_a_near_copy_of_accepted_text_is_a_near_duplicate(write):
    original = write(prose(1).encode(), "essay.txt")
    index = SignatureIndex()
    index.add(Entry(original.sha256, "0xOWNER", "portal", "dat-abc", tuple(signature(original, "text"))))
    copy = write((prose(1) + " with a few words added at the end").encode(), "copy.txt")
    result = near_duplicate(copy, "text", index=index, owner="0xOTHER")
    assert (result.code, result.passed, result.figures["of"], result.figures["source"]) == (
        "near_duplicate",
        False,
        "dat-abc",
        "portal",
    )
    assert result.figures["similarity"] >= 0.8 and "DAT dat-abc" in result.detail


def test_different_text_is_not_a_near_duplicate(write):
    index = SignatureIndex()
    a = write(prose(1).encode(), "a.txt")
    index.add(Entry(a.sha256, "0xA", "local", "1", tuple(signature(a, "text"))))
    result = near_duplicate(write(prose(2).encode(), "b.txt"), "text", index=index, owner="0xB")
    assert result.passed and len(result.figures["minhash"]) == 128


def test_the_same_contribution_seen_again_is_not_its_own_duplicate(write):
    a = write(prose(3).encode(), "a.txt")
    index = SignatureIndex()
    index.add(Entry(a.sha256, "0xA", "local", "1", tuple(signature(a, "text"))))
    assert near_duplicate(a, "text", index=index, owner="0xa").passed  # a re-routed round of the same upload
    assert not near_duplicate(a, "text", index=index, owner="0xB").passed  # someone else's copy


def test_the_signature_is_reproducible_and_the_local_cache_survives_a_restart(write, tmp_path):
    a = write(prose(4).encode(), "a.txt")
    assert signature(a, "text") == signature(write(prose(4).encode(), "again.txt"), "text")
    cache = tmp_path / "accepted.jsonl"
    SignatureIndex(path=cache).add(Entry(a.sha256, "0xA", "local", "7", tuple(signature(a, "text"))), persist=True)
    reloaded = SignatureIndex(path=cache)
    assert len(reloaded) == 1
    copy = write((prose(4) + " tail").encode(), "b.txt")
    assert near_duplicate(copy, "text", index=reloaded, owner="0xB").code == "near_duplicate"


def test_published_signatures_are_indexed(write):
    a = write(prose(5).encode(), "a.txt")
    index = SignatureIndex()
    assert index.add_published({"dat": "d1", "content_hash": a.sha256, "owner": "0xA", "minhash": signature(a, "text")})
    assert not index.add_published({"dat": "d2", "content_hash": a.sha256, "minhash": [1, 2]})  # malformed / known
    assert len(index) == 1


# --- the decision ------------------------------------------------------------------------------------


def test_a_clean_csv_is_approved_with_its_summary(write):
    verdict, reason, results = verdict_of(
        write(b"id,label\n1,cat\n2,dog\n3,bird\n", "labels.csv"), index=SignatureIndex()
    )
    assert (verdict, reason) == ("approve", "ok: CSV, 3 rows × 2 columns")
    assert [r.check for r in results] == [
        "integrity",
        "type",
        "encoding",
        "structure",
        "emptiness",
        "pii",
        "duplicates",
    ]


def test_utf16_text_is_checked_like_utf8(write):
    c = write(("email\n" + "".join(f"x{i}@example.org\n" for i in range(30))).encode("utf-16"), "list.csv")
    verdict, reason, _ = verdict_of(c)
    assert verdict == "reject" and reason_codes(reason) == ["pii"]


def test_a_rejection_names_every_failed_check_within_500_characters():
    failed = [Result("pii", "pii", False, "x" * 300), Result("emptiness", "near_empty", False, "y" * 300)]
    verdict, reason = decide([Result("integrity", "ok", True), *failed])
    assert verdict == "reject" and len(reason) == 500 and reason.startswith("pii: xxx")
    assert reason_codes(decide(failed[::-1])[1]) == ["near_empty", "pii"]
    assert reason_codes("pii: a; near_empty: b") == ["pii", "near_empty"]


def test_every_check_gives_the_same_results_in_memory_as_from_the_file(tmp_path):
    """An inline file is checked from its bytes (Content.data), a download from its file: the
    same results for text, CSV, JSON Lines, Parquet (clean and with personal data), binary."""
    parquet = tmp_path / "p.parquet"
    pq.write_table(pa.table({"email": [f"user{i}@example.org" for i in range(20)], "n": list(range(20))}), parquet)
    samples = {
        "a.csv": b"id,label\n1,cat\n2,dog\n3,bird\n",
        "b.jsonl": b'{"a": 1}\n{"a": 2}\n{"a": \n',
        "c.txt": prose(7).encode(),
        "d.csv": "\n".join(f"{i},mail{i}@example.org,+44 20 7946 {i:04d}" for i in range(30)).encode(),
        "e.parquet": parquet.read_bytes(),
        "f.bin": bytes(range(256)) * 8,
    }
    for name, data in samples.items():
        on_disk = Content.from_bytes(data, tmp_path / f"disk-{name}", name=name)
        in_memory = Content(
            path=tmp_path / "never-written",
            size=on_disk.size,
            sha256=on_disk.sha256,
            keccak256=on_disk.keccak256,
            name=name,
            data=data,
        )
        assert verdict_of(in_memory) == verdict_of(on_disk), name
    assert not (tmp_path / "never-written").exists()
