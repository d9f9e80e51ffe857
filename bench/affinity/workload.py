"""The seeded multi-conversation workload of the affinity benchmark. Pure: no I/O, no clock.

`make_workload(seed, shape)` returns conversations that each start from one of a few long shared
prefixes (system prompts), add their own first user message, and then take turns: every turn sends
the whole history so far (previous answers included) plus a new user message, so the prompt grows
and the provider can serve the part it has seen from its prompt cache.

The simulator's tokenizer counts word runs, so a text of n words is n tokens. All times are in units
of the provider cache TTL, so the same seed gives the same workload at any `--cache-ttl`:

* prefix popularity is Zipf-like (a few prefixes carry most conversations), sizes 2k-20k tokens;
* turns per conversation are lognormal (median ~ `turns_median`, clipped), so a few conversations
  carry many more turns than the rest;
* think times follow how people and agents really pace a conversation against a 5-minute provider
  TTL (the mixture of ../shared/notes/routing.md 6.2): half the conversations are chats, where a
  human reads and types before every turn (lognormal, median 75 s = 0.25 TTL, so a few gaps run past
  4 minutes); the other half are agent sessions, bursts of tool-loop turns seconds apart (median 3 s)
  separated by a human review of the result (median 90 s); and a few gaps are long pauses (the user
  went away: 5 % of gaps, beyond the TTL). Gaps within ~20 % of the TTL are moved out of that band
  (see `_clear_of_ttl`), so wall-clock noise cannot decide whether an entry expired;
* most conversations carry an id, in one of three forms; the rest carry none, so the gateway has to
  fall back on the hash of the prompt's stable prefix.

`request(conv, turn, answers, api)` builds the (headers, body) of one turn, OpenAI chat completions
or Anthropic messages (with `cache_control` on the system prompt and on the last user message).
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass
from typing import Any

ID_FORMS = ("x-conversation-id", "prompt_cache_key", "metadata.user_id", "none")
KINDS = ("chat", "agent")
PREFIX_TOKENS = (2_000, 3_500, 6_000, 11_000, 20_000)

# A small vocabulary: every word is one token for the simulator's tokenizer.
_VOCAB = ["the", "a", "of", "to", "and", "in", "is", "it", "for", "on", "with", "as", "be", "this", "that", "by", "file", "line", "code", "test", "function", "return", "value", "error", "path", "config", "request", "response", "cache", "account", "model", "token", "prompt", "server", "client", "build", "run", "check", "update", "change", "fix", "add", "remove", "module", "class", "type", "import", "call", "read", "write", "list", "map", "key", "index", "result", "data", "user", "system", "tool", "output", "input", "stream", "block", "state", "event", "loop", "task", "agent", "plan", "step", "next", "done", "open", "close"]


@dataclass(frozen=True, slots=True)
class Shape:
    """The size of a workload (times in units of the provider cache TTL)."""

    conversations: int = 64
    turns_median: float = 14.0  # the "~10-20 turns" (before 2026-12-02: 10, clipped to 6-16)
    turns_min: int = 10
    turns_max: int = 20
    arrival_window: float = 1.2  # conversations start uniformly over this many TTLs
    id_share: float = 0.8  # conversations that carry an explicit id
    zipf_s: float = 1.1  # prefix popularity
    first_user_tokens: int = 600  # median size of the conversation's own first message
    user_tokens: int = 600  # median size of a later user/tool message (notes/routing.md 6.2: 800)
    answer_tokens: int = 300  # median answer length, sent as max_tokens (notes/routing.md 6.2: 400)
    p_agent: float = 0.5  # share of agent sessions; the rest are human chats
    human_gap: float = 0.25  # median human think time (TTLs): 75 s against a 5-minute TTL
    human_sigma: float = 0.8  # its spread: 10 % of human gaps run past 0.7 TTL (3.5 min)
    agent_gap: float = 0.01  # median tool-loop gap (TTLs): 3 s
    review_gap: float = 0.3  # median human review between an agent's bursts: 90 s
    burst_median: float = 4.0  # agent turns per burst (lognormal)
    p_long_pause: float = 0.05  # a gap beyond the TTL (the user went away)
    horizon: float = 5.0  # the run observes this many TTLs: turns planned later are not played


def parse_turns(text: str) -> dict[str, float | int]:
    """`MEDIAN,MIN,MAX` (a command line's --turns) as `Shape` fields."""
    median, low, high = text.split(",")
    return {"turns_median": float(median), "turns_min": int(low), "turns_max": int(high)}


QUICK = Shape(conversations=36, turns_median=6.0, turns_min=4, turns_max=8, arrival_window=0.8, horizon=4.0)


@dataclass(frozen=True, slots=True)
class Prefix:
    name: str
    tokens: int
    text: str
    weight: float  # share of conversations that start from it


@dataclass(frozen=True, slots=True)
class Conversation:
    index: int
    prefix: Prefix
    id_form: str  # one of ID_FORMS
    kind: str  # one of KINDS
    session: str  # the conversation's id (also used when id_form is "none", for logs only)
    start: float  # TTLs after the workload starts
    gaps: tuple[float, ...]  # think time (TTLs) before each turn; gaps[0] == 0
    users: tuple[str, ...]  # the user message of each turn
    answer_tokens: tuple[int, ...]  # max_tokens of each turn

    @property
    def turns(self) -> int:
        return len(self.users)


@dataclass(frozen=True, slots=True)
class Workload:
    seed: int
    shape: Shape
    prefixes: tuple[Prefix, ...]
    conversations: tuple[Conversation, ...]

    @property
    def requests(self) -> int:
        return sum(c.turns for c in self.conversations)

    def span(self) -> float:
        """Planned length in TTLs when answers take no time (the last turn of the last conversation)."""
        return max(c.start + sum(c.gaps) for c in self.conversations)


def _words(rng: random.Random, n: int, lead: str) -> str:
    return lead + " " + " ".join(rng.choices(_VOCAB, k=max(1, n - len(lead.split()))))


def _lognormal(rng: random.Random, median: float, sigma: float) -> float:
    return rng.lognormvariate(math.log(median), sigma)


def _clear_of_ttl(gap: float) -> float:
    """A gap moved out of (0.7, 1.3) TTLs to the nearer edge. Inside that band, whether the entry
    is still there depends on how long the previous answer took (20-220 ms against a TTL of 2 s
    here) and on queueing, i.e. on the machine's noise rather than on routing; outside it the
    outcome is the same in every run. A long pause is compressed to 1.3-2 TTLs: beyond the TTL,
    its length changes nothing but the run time."""
    if 0.7 < gap < 1.3:
        return 0.7 if gap < 1.0 else 1.3
    return min(gap, 2.0)


def _gaps(rng: random.Random, shape: Shape, kind: str, turns: int) -> tuple[float, ...]:
    """Think times before each turn (TTLs): a human's before every chat turn; an agent's tool loops
    in bursts, with a human review between bursts; now and then a long pause (the user went away)."""
    gaps = [0.0]
    burst_left = max(1, round(_lognormal(rng, shape.burst_median, 0.5)))
    for _ in range(1, turns):
        if rng.random() < shape.p_long_pause:
            gap = rng.uniform(1.3, 2.0)
        elif kind == "chat":
            gap = _lognormal(rng, shape.human_gap, shape.human_sigma)
        elif burst_left > 0:
            burst_left -= 1
            gap = _lognormal(rng, shape.agent_gap, 0.6)
        else:
            burst_left = max(1, round(_lognormal(rng, shape.burst_median, 0.5)))
            gap = _lognormal(rng, shape.review_gap, shape.human_sigma)
        gaps.append(_clear_of_ttl(gap))
    return tuple(gaps)


def make_workload(seed: int, shape: Shape = Shape()) -> Workload:
    rng = random.Random(seed)
    sizes = list(PREFIX_TOKENS)
    rng.shuffle(sizes)  # which size is the popular one depends on the seed
    ranks = [1.0 / (r + 1) ** shape.zipf_s for r in range(len(sizes))]
    total = sum(ranks)
    prefixes = tuple(
        Prefix(f"p{i}", n, _words(rng, n, f"You are assistant p{i} of a benchmark. Instructions follow."), w / total)
        for i, (n, w) in enumerate(zip(sizes, ranks, strict=True))
    )
    convs = []
    for i in range(shape.conversations):
        prefix = rng.choices(prefixes, weights=[p.weight for p in prefixes])[0]
        id_form = ID_FORMS[rng.randrange(3)] if rng.random() < shape.id_share else "none"
        kind = "agent" if rng.random() < shape.p_agent else "chat"
        turns = round(_lognormal(rng, shape.turns_median, 0.45))
        turns = max(shape.turns_min, min(shape.turns_max, turns))
        users = [_words(rng, round(_lognormal(rng, shape.first_user_tokens, 0.5)), f"Conversation c{i} turn 0:")]
        users += [
            _words(rng, round(_lognormal(rng, shape.user_tokens, 0.6)), f"Conversation c{i} turn {t}:")
            for t in range(1, turns)
        ]
        start = rng.uniform(0, shape.arrival_window)
        gaps = _gaps(rng, shape, kind, turns)
        at, played = start, 0
        for g in gaps:  # the turns that start within the observed horizon
            at += g
            if at > shape.horizon:
                break
            played += 1
        answer_tokens = tuple(max(16, round(_lognormal(rng, shape.answer_tokens, 0.5))) for _ in range(turns))
        convs.append(
            Conversation(
                index=i,
                prefix=prefix,
                id_form=id_form,
                kind=kind,
                session=f"{rng.getrandbits(128):032x}",
                start=start,
                gaps=gaps[:played],
                users=tuple(users[:played]),
                answer_tokens=answer_tokens[:played],
            )
        )
    convs.sort(key=lambda c: c.start)
    return Workload(seed, shape, prefixes, tuple(convs))


def request(conv: Conversation, turn: int, answers: list[str], api: str, model: str) -> tuple[dict[str, str], dict[str, Any]]:
    """Headers and body of turn `turn`; `answers` holds the assistant's answers to turns 0..turn-1."""
    messages: list[dict[str, Any]] = []
    for t in range(turn):
        messages.append({"role": "user", "content": conv.users[t]})
        messages.append({"role": "assistant", "content": answers[t]})
    messages.append({"role": "user", "content": conv.users[turn]})
    body: dict[str, Any] = {"model": model, "max_tokens": conv.answer_tokens[turn]}
    if api == "anthropic":  # content as text blocks, as Claude Code sends it (the simulator's cache
        # tells a string from the same text in a block, so the form must not change between turns)
        ephemeral = {"type": "ephemeral"}
        body["system"] = [{"type": "text", "text": conv.prefix.text, "cache_control": ephemeral}]
        for m in messages:
            m["content"] = [{"type": "text", "text": m["content"]}]
        messages[-1]["content"][0]["cache_control"] = ephemeral
        body["messages"] = messages
    else:
        body["messages"] = [{"role": "system", "content": conv.prefix.text}, *messages]
    headers: dict[str, str] = {}
    if conv.id_form == "x-conversation-id":
        headers["X-Conversation-Id"] = conv.session
    elif conv.id_form == "prompt_cache_key":
        body["prompt_cache_key"] = conv.session
    elif conv.id_form == "metadata.user_id":  # as Claude Code sends it: a JSON string
        user_id = {"device_id": f"dev{conv.index}", "account_uuid": "bench", "session_id": conv.session}
        body["metadata"] = {"user_id": json.dumps(user_id)}
    return headers, body
