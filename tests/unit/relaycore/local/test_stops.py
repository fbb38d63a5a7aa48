from __future__ import annotations

import pytest

from auterity.relaycore.local.stops import StopScanner


def stream(scanner: StopScanner, pieces: list[str]) -> str:
    emitted = "".join(scanner.feed(piece) for piece in pieces)
    return emitted + scanner.flush()


def test_without_stops_text_passes_through_unchanged() -> None:
    scanner = StopScanner([])
    assert scanner.feed("Hello") == "Hello"
    assert scanner.feed(", world") == ", world"
    assert scanner.flush() == ""
    assert not scanner.stopped


def test_text_is_cut_before_the_first_stop_sequence() -> None:
    scanner = StopScanner(["END"])
    assert stream(scanner, ["one two ", "END three"]) == "one two "
    assert scanner.stopped


@pytest.mark.parametrize(
    "pieces",
    [
        ["ab", "cST", "OP", "def"],
        ["abcS", "T", "O", "Pdef"],
        ["a", "b", "c", "S", "T", "O", "P", "d"],
        ["abcSTOPdef"],
    ],
)
def test_a_stop_split_across_pieces_is_found_and_never_leaks(pieces: list[str]) -> None:
    scanner = StopScanner(["STOP"])
    emitted = [scanner.feed(piece) for piece in pieces]
    assert "".join(emitted) == "abc"
    assert not any("S" in piece for piece in emitted)
    assert scanner.stopped


def test_a_held_back_prefix_is_released_when_it_does_not_become_a_stop() -> None:
    scanner = StopScanner(["STOP"])
    assert scanner.feed("abcST") == "abc"
    assert scanner.feed("ray") == "STray"
    assert scanner.feed("ST") == ""
    assert scanner.flush() == "ST"
    assert not scanner.stopped


def test_the_earliest_of_several_stops_wins() -> None:
    scanner = StopScanner(["\n\n", "User:"])
    assert stream(scanner, ["Sure. User: hi\n\nmore"]) == "Sure. "


def test_overlapping_prefixes_hold_back_the_longest_candidate() -> None:
    scanner = StopScanner(["aab"])
    assert scanner.feed("xaa") == "x"
    assert scanner.feed("a") == "a"
    assert scanner.feed("b") == ""
    assert scanner.stopped


def test_nothing_is_emitted_after_a_stop() -> None:
    scanner = StopScanner(["."])
    assert scanner.feed("One. Two.") == "One"
    assert scanner.feed("Three") == ""
    assert scanner.flush() == ""
