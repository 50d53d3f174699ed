"""Pairing QR codes as Unicode half blocks: two module rows per text line, so a ~217-char
whatsmeow payload (version 9 at level L) fits in 29 lines by 57 columns.

Each character is a top and a bottom module: '█' both dark, '▀' top dark, '▄' bottom dark,
' ' neither. Callers paint dark as black on a white background whatever the theme; readers
need dark modules on light, with the quiet zone kept light as well.
"""

from __future__ import annotations

import qrcode
from qrcode.constants import ERROR_CORRECT_L

QUIET_ZONE = 2  # modules; phone scanners read a 2-module zone fine and it saves 4 lines

_BLOCKS = {(True, True): "█", (True, False): "▀", (False, True): "▄", (False, False): " "}


def qr_matrix(payload: str, *, border: int = QUIET_ZONE) -> list[list[bool]]:
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_L, border=border)
    code.add_data(payload)
    code.make(fit=True)
    return code.get_matrix()


def half_block_lines(matrix: list[list[bool]]) -> list[str]:
    rows = matrix if len(matrix) % 2 == 0 else [*matrix, [False] * len(matrix[0])]
    return [
        "".join(_BLOCKS[top, bottom] for top, bottom in zip(upper, lower, strict=True))
        for upper, lower in zip(rows[0::2], rows[1::2], strict=True)
    ]


def render_qr(payload: str, *, border: int = QUIET_ZONE) -> list[str]:
    """The QR for ``payload`` as text lines, quiet zone included."""
    return half_block_lines(qr_matrix(payload, border=border))


def qr_text_size(payload: str, *, border: int = QUIET_ZONE) -> tuple[int, int]:
    """(columns, lines) the rendered code needs."""
    lines = render_qr(payload, border=border)
    return len(lines[0]), len(lines)
