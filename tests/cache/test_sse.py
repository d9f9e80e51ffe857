"""The SSE parser and encoder: edge cases, and any split of a stream gives the same events."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from warmgate.sse import DONE, Event, SSEParser, encode, encode_event, parse


def feed_all(chunks: list[bytes]) -> list[Event]:
    parser = SSEParser()
    return [event for chunk in chunks for event in parser.feed(chunk)]


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(c, len(data)) for c in cuts})
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


def test_openai_style_stream_with_done() -> None:
    stream = b'data: {"a":1}\n\ndata: {"a":2}\n\ndata: [DONE]\n\n'
    assert parse(stream) == [Event(None, b'{"a":1}'), Event(None, b'{"a":2}'), Event(None, DONE)]


def test_named_events_and_crlf() -> None:
    stream = b"event: message_start\r\ndata: {}\r\n\r\nevent: ping\r\ndata: {}\r\n\r\n"
    assert parse(stream) == [Event("message_start", b"{}"), Event("ping", b"{}")]


def test_lone_cr_line_ends() -> None:
    assert parse(b"event: x\rdata: 1\r\rdata: 2\r\r") == [Event("x", b"1"), Event(None, b"2")]


def test_crlf_split_between_chunks_is_one_line_end() -> None:
    parser = SSEParser()
    assert parser.feed(b"data: 1\r") == []
    assert parser.feed(b"\n") == []  # the \n of \r\n, not a blank line
    assert parser.feed(b"\r") == [Event(None, b"1")]
    assert parser.feed(b"\ndata: 2\n\n") == [Event(None, b"2")]


def test_a_chunk_that_is_only_the_lf_of_a_crlf_does_not_eat_a_later_lf() -> None:
    parser = SSEParser()
    assert parser.feed(b"data: 1\r") == []
    assert parser.feed(b"\n") == []
    assert parser.feed(b"\n") == [Event(None, b"1")]


def test_comments_are_ignored() -> None:
    stream = b": keep-alive\n\n:another\ndata: x\n: inside\n\n"
    assert parse(stream) == [Event(None, b"x")]


def test_multi_line_data_joins_with_lf() -> None:
    assert parse(b"data: line one\ndata: line two\ndata:\n\n") == [Event(None, b"line one\nline two\n")]


def test_only_one_space_after_the_colon_is_dropped() -> None:
    assert parse(b"data:x\n\ndata:  y\n\n") == [Event(None, b"x"), Event(None, b" y")]


def test_field_without_colon_and_unknown_fields() -> None:
    assert parse(b"data\n\nid: 7\nretry: 10\nfoo: bar\ndata: z\n\n") == [Event(None, b""), Event(None, b"z")]


def test_event_without_data_is_not_dispatched_and_name_resets() -> None:
    assert parse(b"event: lonely\n\ndata: after\n\n") == [Event(None, b"after")]


def test_unterminated_last_event_is_not_dispatched() -> None:
    parser = SSEParser()
    assert parser.feed(b'data: {"a":1}\n\ndata: [DO') == [Event(None, b'{"a":1}')]
    assert parser.feed(b"NE]\n") == []  # complete line, but no blank line yet
    assert parser.feed(b"\n") == [Event(None, DONE)]


def test_byte_order_mark_is_skipped_even_when_split() -> None:
    assert feed_all([b"\xef", b"\xbb", b"\xbfdata: 1\n\n"]) == [Event(None, b"1")]
    assert parse(b"\xef\xbb\xbfevent: e\ndata: 2\n\n") == [Event("e", b"2")]


def test_utf8_split_inside_a_character() -> None:
    data = "data: héllo ☃\n\n".encode()
    assert feed_all([data[:8], data[8:15], data[15:]]) == [Event(None, "héllo ☃".encode())]


def test_encode_round_trips() -> None:
    events = [Event("a", b"{}"), Event(None, b"x\ny"), Event(None, b""), Event(None, DONE)]
    assert encode(events) == b"event: a\ndata: {}\n\ndata: x\ndata: y\n\ndata: \n\ndata: [DONE]\n\n"
    assert parse(encode(events)) == events
    assert encode_event(Event("e", b"a\r\nb")) == b"event: e\ndata: a\ndata: b\n\n"


_names = st.one_of(st.none(), st.sampled_from(["message_start", "response.completed", "ping", "e"]))
_line = st.binary(max_size=12).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))
_data = st.lists(_line, min_size=1, max_size=3).map(b"\n".join)
_events = st.lists(st.builds(Event, _names, _data), max_size=8)
_ENDS = [b"\n", b"\r\n", b"\r"]


@st.composite
def _wire(draw: st.DrawFn) -> tuple[list[Event], bytes]:
    """Events and one way to write them: per line a random line end, with comments in between."""
    events = draw(_events)
    out = b"\xef\xbb\xbf" if draw(st.booleans()) else b""
    for event in events:
        lines = [] if event.event is None else [b"event: " + event.event.encode()]
        lines += [b"data: " + line for line in event.data.split(b"\n")]
        lines.append(b"")
        for line in lines:
            if draw(st.integers(0, 5)) == 0:
                out += b": comment" + draw(st.sampled_from(_ENDS))
            # after a lone \r, an empty line ended by \n would read as the \n of a \r\n
            ends = _ENDS[1:] if not line and out.endswith(b"\r") else _ENDS
            out += line + draw(st.sampled_from(ends))
    return events, out


@settings(max_examples=150, deadline=None)
@given(_wire(), st.lists(st.integers(0, 400), max_size=12))
def test_any_split_gives_the_same_events(wire: tuple[list[Event], bytes], cuts: list[int]) -> None:
    events, data = wire
    assert parse(data) == events
    assert feed_all(split_at(data, cuts)) == events


@settings(max_examples=50, deadline=None)
@given(_wire())
def test_byte_by_byte(wire: tuple[list[Event], bytes]) -> None:
    events, data = wire
    assert feed_all([data[i : i + 1] for i in range(len(data))]) == events


@settings(max_examples=100, deadline=None)
@given(_events)
def test_encode_then_parse_is_identity(events: list[Event]) -> None:
    assert parse(encode(events)) == events
