"""Bit-level reading and writing of H.264 RBSPs: Exp-Golomb codes and emulation prevention
(ITU-T H.264 7.2, 7.4.1, 9.1)."""

from __future__ import annotations


class BitReader:
    """Reads an RBSP (no emulation-prevention bytes) bit by bit; IndexError past the end."""

    def __init__(self, rbsp: bytes) -> None:
        self.data, self.pos = rbsp, 0

    def u(self, n: int) -> int:
        value = 0
        for _ in range(n):
            byte = self.data[self.pos >> 3]  # IndexError past the end: a truncated unit
            value = value << 1 | (byte >> (7 - (self.pos & 7))) & 1
            self.pos += 1
        return value

    def ue(self) -> int:
        zeros = 0
        while self.u(1) == 0:
            zeros += 1
            if zeros > 31:
                raise ValueError("bad exp-Golomb code")
        return (1 << zeros) - 1 + self.u(zeros)

    def se(self) -> int:
        k = self.ue()
        return (k + 1) // 2 if k & 1 else -(k // 2)


class BitWriter:
    """Writes an RBSP; `nal()` closes it with the stop bit and adds the emulation
    prevention a NAL unit needs."""

    def __init__(self) -> None:
        self._value = 0
        self._bits = 0

    def u(self, n: int, value: int) -> None:
        self._value = self._value << n | (value & ((1 << n) - 1))
        self._bits += n

    def ue(self, value: int) -> None:
        code = value + 1
        length = code.bit_length()
        self.u(length - 1, 0)
        self.u(length, code)

    def se(self, value: int) -> None:
        self.ue(2 * value - 1 if value > 0 else -2 * value)

    def nal(self, header: int) -> bytes:
        """The NAL unit (header byte first, no start code) holding what was written."""
        self.u(1, 1)  # rbsp_stop_one_bit
        pad = -self._bits % 8
        rbsp = (self._value << pad).to_bytes((self._bits + pad) // 8, "big")
        return bytes([header]) + escape(rbsp)


def unescape(nal: bytes) -> bytes:
    """The RBSP of a NAL unit: its payload without header and emulation-prevention bytes."""
    return nal[1:].replace(b"\x00\x00\x03", b"\x00\x00")


def escape(rbsp: bytes) -> bytes:
    """Inserts an emulation-prevention byte wherever two zero bytes precede a byte <= 3."""
    out = bytearray()
    zeros = 0
    for byte in rbsp:
        if zeros >= 2 and byte <= 3:
            out.append(3)
            zeros = 0
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(out)
