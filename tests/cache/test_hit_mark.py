"""The hit marker spliced into a stored answer's bytes means what re-encoding it would."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from warmgate.cache.recording import HIT_MARK, marked

_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
_bodies = st.dictionaries(st.text(max_size=8), _values, max_size=5)


@settings(max_examples=300, deadline=None)
@given(body=_bodies, indent=st.booleans(), tail=st.sampled_from([b"", b"\n", b" \r\n\t"]))
def test_the_splice_reads_as_the_body_with_the_marker(body: dict[str, Any], indent: bool, tail: bytes) -> None:
    encoded = orjson.dumps(body, option=orjson.OPT_INDENT_2 if indent else 0) + tail
    for endpoint in ("chat.completions", "embeddings"):
        assert orjson.loads(marked(endpoint, body, encoded)) == {**body, **HIT_MARK}
        assert orjson.loads(marked(endpoint, body)) == {**body, **HIT_MARK}


def test_a_body_that_has_the_marker_key_is_encoded_again() -> None:
    body = {"warmgate": {"cache": "other"}, "id": "x"}
    assert orjson.loads(marked("chat.completions", body, orjson.dumps(body))) == {**body, **HIT_MARK}


def test_an_empty_object_and_bytes_that_do_not_end_an_object_are_encoded_again() -> None:
    assert orjson.loads(marked("embeddings", {}, b"{}")) == HIT_MARK
    body = {"a": 1}
    assert orjson.loads(marked("embeddings", body, b'{"a": 1} x')) == {**body, **HIT_MARK}
