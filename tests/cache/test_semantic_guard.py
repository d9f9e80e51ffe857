"""The lexical guard: each check refuses its kind of trap and lets plain paraphrases through."""

from __future__ import annotations

import pytest

from warmgate.cache.semantic_guard import refusal


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("How do I reverse a list in Python?", "What is the way to reverse a Python list?"),
        ("What is the capital of France?", "Tell me the capital of France."),
        ("What is the capital of France?", "what's the capital of france"),
        ("Why doesn't my code compile?", "Why does my code not compile?"),
        ("Explain quicksort", "Can you explain quicksort?"),
        ("Convert 1,000 meters to km", "Convert 1000 meters into km"),
        ("Give me three tips for sleeping better", "Share 3 tips for sleeping better"),
        ("List all the files in a folder", "Show every file in a folder"),
        ("What does os.path.join do?", "Explain what os.path.join does"),
        ("Same text", "Same text"),
    ],
)
def test_paraphrases_pass(a: str, b: str) -> None:
    assert refusal(a, b) is None
    assert refusal(b, a) is None


@pytest.mark.parametrize(
    ("a", "b", "check"),
    [
        ("Convert 10 km to miles", "Convert 12 km to miles", "numbers"),
        ("Give me three tips", "Give me four tips", "numbers"),
        ("What was the price in 2019?", "What was the price in 2020?", "numbers"),
        ("Who won the second round?", "Who won the third round?", "numbers"),
        ("Book a table for Friday", "Book a table for Saturday", "dates"),
        ("What's the weather today?", "What's the weather tomorrow?", "dates"),
        ("Is coffee bad for you?", "Is coffee not bad for you?", "negation"),
        ("How do I commit with a message?", "How do I commit without a message?", "negation"),
        ("Why does it work?", "Why doesn't it work?", "negation"),
        ("How do I reverse a list in Python?", "How do I reverse a list in Java?", "entities"),
        ("Deploy to AWS", "Deploy to GCP", "entities"),
        ('Translate "good morning" to Spanish', 'Translate "good night" to Spanish', "quoted"),
        ("What does os.path.join do?", "What does os.path.split do?", "code"),
        ("Why is my_var undefined?", "Why is my_val undefined?", "code"),
        ("List all the files", "List only the files", "scope"),
        ("Delete every row except the header", "Delete every row", "scope"),
        ("Which is faster, A or B?", "Which is slower, A or B?", "comparatives"),
        ("Convert the distance to kilometers", "Convert the distance to miles", "units"),
        ("what is 30 degrees celsius in the other scale?", "what is 30 degrees fahrenheit in the other scale?", "units"),
        ("How do I enable SSH on the server?", "How do I disable SSH on the server?", "antonyms"),
        ("How to encrypt a file with a password", "How to decrypt a file with a password", "antonyms"),
        ("Sort the numbers in ascending order", "Sort the numbers in descending order", "antonyms"),
        ("How do I zoom in on a Mac?", "How do I zoom out on a Mac?", "antonyms"),
        ("How do I turn off the wifi", "How do I turn on the wifi", "antonyms"),
    ],
)
def test_traps_are_refused(a: str, b: str, check: str) -> None:
    assert refusal(a, b) == check
    assert refusal(b, a) == check
