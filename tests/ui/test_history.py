"""Chat sessions in SQLite: answers survive a round trip, sessions are found by name and age."""

import pytest

from bot.errors import BotError
from bot.ui.history import History


def test_answers_round_trip_through_the_database(seeded, tmp_path):
    first = seeded.ask("What range was claimed?")
    follow = seeded.ask("How long did they fly?", history=[first])
    history = History(tmp_path / "h")
    name = history.create(None, "default")
    history.add(name, first)
    history.add(name, follow)
    history.close()

    again = History(tmp_path / "h").turns(name)
    assert [a.to_dict() for a in again] == [first.to_dict(), follow.to_dict()]
    assert again[1].standalone_question == follow.standalone_question
    # a restored turn carries the conversation on exactly as the live one did
    assert seeded.standalone_question("Where did they land?", again) == \
        seeded.standalone_question("Where did they land?", [first, follow])


def test_sessions_by_name_and_recency(tmp_path):
    history = History(tmp_path)
    a = history.create(None, "default")
    b = history.create(None, "default")
    assert a != b  # unnamed sessions started in the same second still get distinct names
    assert history.last() == b
    assert history.open(a, "default") == a and history.last() == a
    assert history.open("work", "default") == "work" and history.last() == "work"
    assert [s.name for s in history.sessions()] == ["work", a, b]
    assert all(s.turns == 0 and s.first_question is None for s in history.sessions())


def test_adding_to_a_missing_session_is_a_clear_error(seeded, tmp_path):
    history = History(tmp_path)
    with pytest.raises(BotError, match="nope: no such chat session"):
        history.add("nope", seeded.ask("What range was claimed?"))


def test_unusable_store_dir_is_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(BotError) as e:
        History(blocker)
    assert "cannot open the chat history" in str(e.value) and "\n" not in str(e.value)
