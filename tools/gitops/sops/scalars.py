"""Scalar typing as Go's yaml.v3 does it, and sops' `ToBytes` / type-tag round trip.

The MAC hashes the exact bytes sops derives from a Go value, so a plain YAML scalar must get the same type
here as in yaml.v3 (`yes` is a string, `0755` is 493, `1.0` hashes as `1`), or MACs never verify.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any

from ruamel.yaml.scalarbool import ScalarBoolean

_NULLS = {"", "~", "null", "Null", "NULL"}
_TRUE = {"true", "True", "TRUE"}
_FALSE = {"false", "False", "FALSE"}
_NAN = {".nan", ".NaN", ".NAN"}
_POS_INF = {".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"}
_NEG_INF = {"-.inf", "-.Inf", "-.INF"}

_YAML_STYLE_FLOAT = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")
_DOT_FLOAT = re.compile(r"^\.[0-9]+([eE][-+]?[0-9]+)?$")
_GO_INT = re.compile(r"^[-+]?(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)$")
_GO_UINT = re.compile(r"^(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)$")
_TIMESTAMP = re.compile(
    r"^(\d{4})-(\d{1,2})-(\d{1,2})"
    r"(?:(?:[Tt](\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2}))"
    r"|(?: (\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.(\d{1,9}))?))?$"
)
_RFC3339 = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})$")
_INT64 = (-(1 << 63), (1 << 63) - 1)


class GoTime(str):
    """A yaml.v3 timestamp, held as Go's `MarshalText` (RFC3339Nano) text, which is what sops hashes."""


class Typed(str):
    """A plain YAML scalar whose yaml.v3 type is not string. The str value is the original text (kept for
    round-trip output); `.value` is the typed value (None, bool, int, float or GoTime)."""

    value: Any

    def __new__(cls, text: str, value: Any) -> Typed:
        obj = super().__new__(cls, text)
        obj.value = value
        return obj

    def __reduce__(self) -> tuple[Any, ...]:
        # copy.deepcopy of a sops block (rewrites keep the file's own block) must rebuild both parts
        return (Typed, (str(self), self.value))


class JsonInt(int):
    """A JSON integer. sops 3.11 decodes JSON into Go's interface{}, where every number is a float64: it is
    encrypted with type `float`, and an integral float is written back without a fraction."""


def json_number(value: float) -> Any:
    """How Go's encoding/json writes a float64 back: integral values below 1e21 have no fraction."""
    if math.isfinite(value) and value.is_integer() and abs(value) < 1e21:
        return JsonInt(int(go_float(value)))  # shortest digits, zero-padded: 1.2345678901234567e19 -> ...67000
    return value


# yaml.v3's isOldBool and isBase60Float: strings it double-quotes although it reads them back as strings, so
# that a YAML 1.1 reader (Kubernetes' sigs.k8s.io/yaml among them) does not take them for a bool or a number.
_OLD_BOOLS = frozenset(
    ["y", "Y", "yes", "Yes", "YES", "on", "On", "ON", "n", "N", "no", "No", "NO", "off", "Off", "OFF"]
)
_BASE60_FLOAT = re.compile(r"[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?")


def quoted_for_yaml_1_1(text: str) -> bool:
    """Whether yaml.v3 (so sops) writes this string quoted although YAML 1.2 would read it plain as a string."""
    return text in _OLD_BOOLS or _BASE60_FLOAT.fullmatch(text) is not None


def resolve_plain(text: str) -> Any:
    """The value yaml.v3 gives an unquoted scalar: None, bool, int, float, GoTime or the string itself."""
    if text in _NULLS:
        return None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    if text in _NAN:
        return math.nan
    if text in _POS_INF:
        return math.inf
    if text in _NEG_INF:
        return -math.inf
    first = text[0]
    if first == ".":
        return float(text) if _DOT_FLOAT.match(text) else text
    if not (first.isdigit() and first.isascii()) and first not in "+-":
        return text
    stamp = go_timestamp(text)
    if stamp is not None:
        return stamp
    plain = text.replace("_", "")
    number = _go_int(plain)
    if number is not None:
        return number
    if _YAML_STYLE_FLOAT.match(plain):
        value = float(plain)
        if not math.isinf(value):  # Go's ParseFloat reports overflow as an error: the scalar stays a string
            return value
    return text


def _go_int(plain: str) -> int | None:
    """strconv.ParseInt(plain, 0, 64), then ParseUint(plain, 0, 64)."""
    if not _GO_INT.match(plain):
        return None
    sign = -1 if plain[0] == "-" else 1
    digits = plain.lstrip("+-")
    lower = digits.lower()
    if lower.startswith(("0x", "0o", "0b")):
        value = int(digits[2:], {"x": 16, "o": 8, "b": 2}[lower[1]])
    elif len(digits) > 1 and digits[0] == "0":
        value = int(digits, 8)
    else:
        value = int(digits)
    value *= sign
    if _INT64[0] <= value <= _INT64[1]:
        return value
    if _GO_UINT.match(plain) and value < (1 << 64):
        return value
    return None


def go_timestamp(text: str) -> GoTime | None:
    """yaml.v3's parseTimestamp, returned as RFC3339Nano text; None when `text` is not a timestamp."""
    m = _TIMESTAMP.match(text)
    if not m:
        return None
    year, month, day = int(m[1]), int(m[2]), int(m[3])
    if m[4] is not None:
        clock, fraction, zone = (m[4], m[5], m[6]), m[7], m[8]
    elif m[9] is not None:
        clock, fraction, zone = (m[9], m[10], m[11]), m[12], "Z"
    else:
        clock, fraction, zone = ("0", "0", "0"), None, "Z"
    hour, minute, second = (int(x) for x in clock)
    try:
        dt.datetime(year, month, day, hour, minute, second)
    except ValueError:
        return None
    if zone != "Z" and (int(zone[1:3]) > 23 or int(zone[4:6]) > 59):
        return None
    return GoTime(_format_time(year, month, day, hour, minute, second, fraction, zone))


def _format_time(
    year: int, month: int, day: int, hour: int, minute: int, second: int, fraction: str | None, zone: str
) -> str:
    frac = (fraction or "").rstrip("0")
    zone = "Z" if zone in ("Z", "z", "+00:00", "-00:00") else zone
    return f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}{'.' + frac if frac else ''}{zone}"


def rfc3339_aad(text: str) -> str:
    """time.Parse(RFC3339, text).Format(RFC3339): the AAD sops uses for the MAC (fraction dropped)."""
    m = _RFC3339.match(text)
    if not m:
        raise ValueError("lastmodified is not an RFC3339 time")
    year, month, day, hour, minute, second = (int(m[i]) for i in range(1, 7))
    return _format_time(year, month, day, hour, minute, second, None, m[8].upper())


def go_float(value: float) -> str:
    """strconv.FormatFloat(value, 'f', -1, 64): shortest round-trip digits, never an exponent."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    from decimal import Decimal  # only files with floats pay for the module

    return format(Decimal(repr(value)).normalize(), "f")


def type_and_bytes(value: Any) -> tuple[str, bytes] | None:
    """sops' type tag and `ToBytes` for a leaf; None for null, which sops neither encrypts nor hashes."""
    if isinstance(value, Typed):
        value = value.value
    if value is None:
        return None
    if isinstance(value, bool | ScalarBoolean):
        return "bool", b"True" if value else b"False"
    if isinstance(value, JsonInt):
        return "float", go_float(float(value)).encode()
    if isinstance(value, int):
        return "int", str(int(value)).encode()
    if isinstance(value, float):
        return "float", go_float(float(value)).encode()
    if isinstance(value, GoTime):
        return "time", str(value).encode()
    if isinstance(value, dt.datetime | dt.date):
        stamp = go_timestamp(value.isoformat().replace("+00:00", "Z"))
        return "time", str(stamp if stamp is not None else value.isoformat()).encode()
    if isinstance(value, str):  # surrogate escapes: the raw bytes of a binary file (files.read_text)
        return "str", str(value).encode("utf-8", "surrogateescape")
    raise TypeError(type(value).__name__)


_GO_BOOL = {"1": True, "t": True, "T": True, "TRUE": True, "true": True, "True": True}
_GO_BOOL.update({"0": False, "f": False, "F": False, "FALSE": False, "false": False, "False": False})


def from_bytes(kind: str, data: bytes, raw: bool = False) -> Any:
    """Inverse of `type_and_bytes` for a decrypted value (sops' Cipher.Decrypt parsing). Raises ValueError.
    `raw`: a str may hold any bytes (sops' binary store), kept as surrogate escapes to be written back as bytes."""
    if raw and kind == "str":
        return data.decode("utf-8", "surrogateescape")
    text = data.decode("utf-8")
    if kind == "str" or kind == "comment":
        return text
    if kind == "int":
        if not re.fullmatch(r"[-+]?[0-9]+", text):
            raise ValueError("bad int")
        return int(text)
    if kind == "float":
        if "_" in text:
            raise ValueError("bad float")
        return float(text)
    if kind == "bool":
        return _GO_BOOL[text]
    if kind == "time":
        m = _RFC3339.match(text)
        if not m:
            raise ValueError("bad time")
        year, month, day, hour, minute, second = (int(m[i]) for i in range(1, 7))
        return GoTime(_format_time(year, month, day, hour, minute, second, m[7], m[8].upper()))
    raise ValueError(f"unknown type {kind}")


def yaml_plain_text(value: Any) -> str:
    """Text for a non-string value in YAML output that yaml.v3 reads back as the same type and ToBytes."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return ".nan"
        if math.isinf(value):
            return ".inf" if value > 0 else "-.inf"
        return go_float_shortest(value)
    return str(value)


def go_float_shortest(value: float) -> str:
    """strconv.FormatFloat(value, 'g', -1, 64), which yaml.v3 writes floats with: the shortest round-trip digits,
    an exponent (`1e+06`, `1e-05`) when the decimal exponent is below -4 or at least 6. A whole number comes out
    as `1000`, which reads back as an int with the same ToBytes, as it does with sops."""
    from decimal import Decimal  # only files with floats pay for the module

    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    sign, digit_tuple, exponent = Decimal(repr(value)).normalize().as_tuple()
    digits = "".join(map(str, digit_tuple))
    point = len(digits) + int(exponent)  # the decimal point's position within `digits`
    minus = "-" if sign else ""
    if point - 1 < -4 or point - 1 >= 6:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        power = point - 1
        return f"{minus}{mantissa}e{'-' if power < 0 else '+'}{abs(power):02d}"
    if point <= 0:
        return f"{minus}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return minus + digits + "0" * (point - len(digits))
    return f"{minus}{digits[:point]}.{digits[point:]}"
