"""Shamir secret sharing over GF(2^8) as sops does it (shamir/shamir.go, from HashiCorp Vault): the data key is
split into one share per key group, and any `shamir_threshold` of them rebuild it.

A share is the polynomial values for each secret byte followed by one x-coordinate byte (1, 2, ... in group
order). The field is AES's: x^8 + x^4 + x^3 + x + 1.
"""

from __future__ import annotations

import os

SHARE_OVERHEAD = 1  # the x-coordinate byte after each share


class ShamirError(ValueError):
    """Shares that cannot rebuild a secret (too few, duplicated, unequal lengths)."""


def _mult(a: int, b: int) -> int:
    out = 0
    while b:
        if b & 1:
            out ^= a
        a = ((a << 1) ^ 0x1B) & 0xFF if a & 0x80 else a << 1
        b >>= 1
    return out


def _inverse(a: int) -> int:
    result, power = 1, a
    for bit in range(8):  # a^254 = a^-1 in GF(2^8)
        if (254 >> bit) & 1:
            result = _mult(result, power)
        power = _mult(power, power)
    return result


def _evaluate(coefficients: bytes, x: int) -> int:
    out = 0
    for coefficient in reversed(coefficients):
        out = _mult(out, x) ^ coefficient
    return out


def split(secret: bytes, parts: int, threshold: int) -> list[bytes]:
    if not 2 <= threshold <= parts <= 255:
        raise ShamirError(f"cannot split into {parts} parts with threshold {threshold}")
    if not secret:
        raise ShamirError("cannot split an empty secret")
    shares = [bytearray() for _ in range(parts)]
    for byte in secret:
        coefficients = bytes([byte]) + os.urandom(threshold - 1)
        for index, share in enumerate(shares):
            share.append(_evaluate(coefficients, index + 1))
    return [bytes(share) + bytes([index + 1]) for index, share in enumerate(shares)]


def combine(shares: list[bytes]) -> bytes:
    if len(shares) < 2:
        raise ShamirError("less than two parts cannot rebuild the secret")
    length = len(shares[0])
    if length < 2 or any(len(share) != length for share in shares):
        raise ShamirError("parts differ in length")
    xs = [share[-1] for share in shares]
    if len(set(xs)) != len(xs):
        raise ShamirError("duplicate part")
    secret = bytearray()
    for position in range(length - 1):
        value = 0
        for i, share in enumerate(shares):
            basis = 1
            for j in range(len(shares)):
                if i != j:
                    basis = _mult(basis, _mult(xs[j], _inverse(xs[i] ^ xs[j])))
            value ^= _mult(share[position], basis)
        secret.append(value)
    return bytes(secret)
