"""Go yaml.v3 scalar typing and sops' ToBytes: the bytes the MAC sees must be the ones Go produces."""

from __future__ import annotations

import math

import pytest

from gitops.sops.scalars import GoTime, from_bytes, go_float, resolve_plain, rfc3339_aad, type_and_bytes


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("yes", "yes"),
        ("no", "no"),
        ("on", "on"),
        ("off", "off"),
        ("true", True),
        ("False", False),
        ("TRUE", True),
        ("tRUE", "tRUE"),
        ("~", None),
        ("null", None),
        ("", None),
        ("0755", 493),
        ("0o17", 15),
        ("0x1F", 31),
        ("0b101", 5),
        ("-0b101", -5),
        ("+12", 12),
        ("1_000", 1000),
        ("08", 8.0),
        ("1e400", "1e400"),
        ("12345678901234567890", 12345678901234567890),
        ("99999999999999999999", 99999999999999999999.0),
        ("1.0", 1.0),
        (".5", 0.5),
        (".inf", math.inf),
        ("-.Inf", -math.inf),
        ("1.2.3", "1.2.3"),
        ("v1", "v1"),
        ("0x", "0x"),
        ("- x", "- x"),
    ],
)
def test_plain_scalars_resolve_like_yaml_v3(text: str, expected: object) -> None:
    value = resolve_plain(text)
    assert value == expected
    assert type(value) is type(expected)


def test_nan_is_a_float() -> None:
    assert math.isnan(resolve_plain(".NaN"))


@pytest.mark.parametrize(
    ("text", "stamp"),
    [
        ("2024-01-01", "2024-01-01T00:00:00Z"),
        ("2001-12-14t21:59:43.10-05:00", "2001-12-14T21:59:43.1-05:00"),
        ("2001-12-14T21:59:43.000Z", "2001-12-14T21:59:43Z"),
        ("2001-12-14 21:59:43.5", "2001-12-14T21:59:43.5Z"),
        ("2024-1-2", "2024-01-02T00:00:00Z"),
        ("2024-01-01T00:00:00+00:00", "2024-01-01T00:00:00Z"),
    ],
)
def test_timestamps_become_rfc3339nano(text: str, stamp: str) -> None:
    value = resolve_plain(text)
    assert isinstance(value, GoTime)
    assert str(value) == stamp
    assert type_and_bytes(value) == ("time", stamp.encode())


def test_invalid_dates_stay_strings() -> None:
    assert resolve_plain("2024-13-01") == "2024-13-01"
    assert not isinstance(resolve_plain("2024-13-01"), GoTime)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.0, "1"),
        (1234.56789, "1234.56789"),
        (1234568000.0, "1234568000"),
        (1e21, "1000000000000000000000"),
        (1e-7, "0.0000001"),
        (-0.0, "-0"),
        (math.inf, "+Inf"),
        (-math.inf, "-Inf"),
        (math.nan, "NaN"),
    ],
)
def test_floats_format_like_go_formatfloat_f(value: float, text: str) -> None:
    assert go_float(value) == text


def test_to_bytes_per_type() -> None:
    assert type_and_bytes(True) == ("bool", b"True")
    assert type_and_bytes(False) == ("bool", b"False")
    assert type_and_bytes(-7) == ("int", b"-7")
    assert type_and_bytes("ünï") == ("str", "ünï".encode())
    assert type_and_bytes(None) is None


def test_decrypted_bytes_parse_back() -> None:
    assert from_bytes("int", b"-7") == -7
    assert from_bytes("float", b"1234568000") == 1234568000.0
    assert from_bytes("bool", b"True") is True
    assert from_bytes("bool", b"f") is False
    assert from_bytes("time", b"2024-01-01T00:00:00Z") == "2024-01-01T00:00:00Z"
    with pytest.raises(ValueError):
        from_bytes("int", b"7.5")
    with pytest.raises(ValueError):
        from_bytes("weird", b"x")


def test_lastmodified_aad_drops_fraction_and_keeps_offset() -> None:
    assert rfc3339_aad("2024-11-12T13:33:42Z") == "2024-11-12T13:33:42Z"
    assert rfc3339_aad("2024-11-12T13:33:42.123Z") == "2024-11-12T13:33:42Z"
    assert rfc3339_aad("2024-11-12T13:33:42+02:00") == "2024-11-12T13:33:42+02:00"
    with pytest.raises(ValueError):
        rfc3339_aad("2024-11-12 13:33:42")
