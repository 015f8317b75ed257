"""Small test pictures, encoded as a client would send them."""

from __future__ import annotations

import base64
import io
import random

from PIL import Image


def solid(color: tuple[int, int, int], size: tuple[int, int] = (64, 48), image_format: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format=image_format)
    return buffer.getvalue()


def noise(seed: int, size: tuple[int, int] = (80, 60)) -> bytes:
    """A PNG of random pixels (it does not compress: about 3 bytes a pixel)."""
    pixels = random.Random(seed).randbytes(size[0] * size[1] * 3)
    buffer = io.BytesIO()
    Image.frombytes("RGB", size, pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def data_uri(data: bytes, media_type: str = "image/png") -> str:
    return f"data:{media_type};base64,{base64.b64encode(data).decode()}"
