"""plugin_sdk.archives: a ZIP is refused on its declared sizes, its actual inflation, or its corruption."""
from __future__ import annotations

import io
import zipfile

import pytest

from qualia.plugin_sdk.archives import ArchiveError, ArchiveLimits, ArchiveTooLarge, check_archive


def archive(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as out:
        for name, data in members.items():
            out.writestr(name, data)
    return buffer.getvalue()


def test_members_within_limits_are_listed():
    assert check_archive(archive({"a.xml": b"<a/>", "b.xml": b"x" * 5000})) == ["a.xml", "b.xml"]


def test_declared_total_and_ratio_are_checked():
    data = archive({"big.xml": b" " * (3 * 1024 * 1024)})
    with pytest.raises(ArchiveTooLarge, match="declares 3145728 bytes unpacked"):
        check_archive(data, "f.docx", ArchiveLimits(max_unpacked_bytes=2 * 1024 * 1024, max_ratio=1e9))
    with pytest.raises(ArchiveTooLarge, match="'big.xml' inflates more than 50:1"):
        check_archive(data, "f.docx", ArchiveLimits(max_unpacked_bytes=1 << 30, max_ratio=50))


def test_a_header_that_lies_about_its_size_is_caught_while_inflating():
    data = bytearray(archive({"big.xml": b" " * (2 * 1024 * 1024)}))
    central = data.rindex(b"PK\x01\x02")  # the central directory entry: declared size at offset 24
    data[central + 24:central + 28] = (1000).to_bytes(4, "little")
    with pytest.raises(ArchiveError, match="big.xml"):
        check_archive(bytes(data), "liar.docx", ArchiveLimits(max_unpacked_bytes=10_000, max_ratio=1e9))


@pytest.mark.parametrize("data, message", [(b"not a zip at all", "not a readable ZIP"),
                                           (b"PK\x03\x04" + bytes(40), "not a readable ZIP")])
def test_broken_archives_are_archive_errors(data, message):
    with pytest.raises(ArchiveError, match=message):
        check_archive(data)


def test_limits_come_from_the_environment_and_bad_values_are_named():
    limits = ArchiveLimits.from_env({"QUALIA_MAX_UNPACKED_BYTES": "1000", "QUALIA_MAX_UNPACK_RATIO": "7.5"})
    assert limits == ArchiveLimits(max_unpacked_bytes=1000, max_ratio=7.5)
    with pytest.raises(ValueError, match="QUALIA_MAX_UNPACKED_BYTES"):
        ArchiveLimits.from_env({"QUALIA_MAX_UNPACKED_BYTES": "lots"})
