"""media.images: what is accepted, how it is re-encoded, and that each picture is stored once."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from newsletter.media.images import (
    EMAIL_WIDTH,
    FULL_WIDTH,
    ImageError,
    content_name,
    read_size,
    small_variant,
    sniff,
    store_image,
)

DATA = Path(__file__).parent / "data" / "images"


def read(name: str) -> bytes:
    return (DATA / name).read_bytes()


def test_sniff_trusts_magic_numbers_not_names() -> None:
    assert sniff(read("wide-chart.png")) == "png"
    assert sniff(read("photo-exif.jpg")) == "jpeg"
    assert sniff(read("disguised.png")) is None  # an SVG named .png
    assert sniff(b"GIF89a....") == "gif"
    assert sniff(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "webp"


def test_wide_image_gets_a_full_and_an_email_copy(tmp_path: Path) -> None:
    stored = store_image(read("wide-chart.png"), tmp_path)
    assert (stored.width, stored.height) == (FULL_WIDTH, 675)  # 1600×900 scaled, aspect kept
    assert stored.name == f"{content_name(read('wide-chart.png'))}.webp"
    full = tmp_path / stored.name
    assert read_size(full) == (FULL_WIDTH, 675)
    small = small_variant(full)
    assert small is not None and small.name == stored.small
    assert read_size(small) == (EMAIL_WIDTH, 338)
    assert Image.open(full).format == "WEBP"
    assert stored.size == full.stat().st_size + small.stat().st_size


def test_narrow_image_keeps_its_size_and_transparency(tmp_path: Path) -> None:
    stored = store_image(read("small-logo.png"), tmp_path)
    assert (stored.width, stored.height, stored.small) == (400, 300, None)
    with Image.open(tmp_path / stored.name) as image:
        assert image.mode == "RGBA"
        assert image.getpixel((0, 0))[3] == 0  # the transparent corner is still transparent


def test_exif_is_dropped_and_orientation_applied(tmp_path: Path) -> None:
    assert Image.open(DATA / "photo-exif.jpg").getexif()  # the fixture does carry a camera and a note
    stored = store_image(read("photo-exif.jpg"), tmp_path)
    with Image.open(tmp_path / stored.name) as image:
        assert not image.getexif()
        assert "exif" not in image.info
    assert (stored.width, stored.height) == (400, 800)  # orientation 6: rotated upright before EXIF went


def test_the_same_bytes_are_stored_once(tmp_path: Path) -> None:
    first = store_image(read("wide-chart.png"), tmp_path)
    mtime = (tmp_path / first.name).stat().st_mtime_ns
    again = store_image(read("wide-chart.png"), tmp_path)
    assert again == first
    assert (tmp_path / first.name).stat().st_mtime_ns == mtime  # reused, not re-encoded
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([first.name, first.small])


@pytest.mark.parametrize(("name", "message"), [
    ("disguised.png", "SVG"),
    ("bomb.png", "too many pixels"),
    ("truncated.png", "damaged PNG"),
])
def test_unusable_images_are_refused_with_a_reason(tmp_path: Path, name: str, message: str) -> None:
    with pytest.raises(ImageError, match=message):
        store_image(read(name), tmp_path)
    assert list(tmp_path.iterdir()) == []  # nothing half-written


def test_html_served_as_an_image_is_named_for_what_it_is(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="HTML page"):
        store_image(b"<!DOCTYPE html><html><body>404</body></html>", tmp_path)
