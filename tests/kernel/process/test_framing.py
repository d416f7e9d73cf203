"""Framing: lines cut from a byte stream whatever the chunking, bounded in length; the stderr tail."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qualia.kernel.process import READ_LIMIT, LineSplitter, StderrTail
from qualia.kernel.process.framing import FramingError
from qualia.plugin_sdk import protocol as p


def test_the_read_limit_admits_a_64_mib_line_and_its_envelope():
    assert READ_LIMIT > p.MAX_LINE_BYTES


def test_whole_lines_come_out_without_their_newline():
    splitter = LineSplitter()
    assert splitter.feed(b'{"a":1}\n{"b":2}\n') == [b'{"a":1}', b'{"b":2}']
    assert splitter.feed(b"") == []


def test_a_line_split_across_chunks_is_joined():
    splitter = LineSplitter()
    assert splitter.feed(b'{"a"') == []
    assert splitter.feed(b":1") == []
    assert splitter.feed(b'}\n{"b"') == [b'{"a":1}']
    assert splitter.feed(b":2}\n") == [b'{"b":2}']


@given(st.lists(st.binary(max_size=30).map(lambda b: b.replace(b"\n", b"")), max_size=8), st.data())
def test_any_chunking_gives_the_same_lines(lines, data):
    stream = b"".join(line + b"\n" for line in lines)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=6)))
    splitter = LineSplitter()
    out = []
    for start, end in zip([0, *cuts], [*cuts, len(stream)]):
        out += splitter.feed(stream[start:end])
    assert out == lines and splitter.flush() == b""


def test_the_unterminated_rest_is_flushed_at_end_of_input():
    splitter = LineSplitter()
    splitter.feed(b'{"a":1}\n{"last":true}')
    assert splitter.flush() == b'{"last":true}'
    assert splitter.flush() == b""


@pytest.mark.parametrize("chunks", [[b"x" * 11], [b"x" * 6, b"x" * 6], [b"x" * 11 + b"\nok\n"]])
def test_a_line_over_the_limit_is_a_framing_error(chunks):
    splitter = LineSplitter(limit=10)
    with pytest.raises(FramingError, match="longer than 10 bytes"):
        for chunk in chunks:
            splitter.feed(chunk)


def test_a_line_at_the_limit_passes():
    assert LineSplitter(limit=10).feed(b"x" * 10 + b"\n") == [b"x" * 10]


def test_the_stderr_tail_keeps_the_last_lines_cut_to_length():
    tail = StderrTail(lines=3, chars=5)
    tail.feed(b"one\ntwo\nthr")
    tail.feed(b"ee\nfour\nabcdefghij\npartial")
    assert list(tail.lines) == ["three", "four", "abcde"]
    tail.close()
    assert list(tail.lines) == ["four", "abcde", "rtial"]  # an unterminated rest keeps its end


def test_the_stderr_tail_decodes_bad_utf8_without_failing():
    tail = StderrTail()
    tail.feed(b"caf\xe9\n")
    assert list(tail.lines) == ["caf\ufffd"]
