"""CLI rendering helpers: progress off a terminal is a few plain lines on stderr, never on stdout."""

from __future__ import annotations

from promptkit.cli._output import bar, phase_progress, progress


def test_phase_progress_off_terminal_logs_completion_to_stderr(capsys):
    with phase_progress(True) as update:
        for step in range(1, 101):
            update("train", step, 100)
        update("eval:test", 1, 1)
    out, err = capsys.readouterr()
    assert out == ""
    assert [line.split(" (")[0] for line in err.strip().splitlines()] == ["train: 100/100", "eval:test: 1/1"]


def test_phase_names_are_printed_literally(capsys):
    """':train:' is a rich emoji code and '[val]' looks like markup: both must come out as written."""
    with phase_progress(True) as update:
        update("hgprompt: features:train:", 1, 1)
        update("features [val]", 1, 1)
    lines = [line.split(" (")[0] for line in capsys.readouterr().err.strip().splitlines()]
    assert lines == ["hgprompt: features:train:: 1/1", "features [val]: 1/1"]


def test_long_phase_logs_every_ten_seconds(capsys, monkeypatch):
    clock = iter(float(t) for t in range(0, 1000, 3))  # 3 s between updates
    monkeypatch.setattr("promptkit.progress.time.monotonic", lambda: next(clock))  # text_progress keeps time
    with phase_progress(True) as update:
        for step in range(1, 11):
            update("train", step, 10)
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == ["train: 5/10 (12.0 s)", "train: 9/10 (24.0 s)", "train: 10/10 (27.0 s)"]


def test_disabled_progress_writes_nothing(capsys):
    with phase_progress(False) as update:
        update("train", 1, 1)
    with progress("verifying", enabled=False) as cb:
        cb(3, 3)
    assert capsys.readouterr() == ("", "")


def test_single_phase_progress_names_its_phase(capsys):
    with progress("verifying") as cb:
        cb(0, 4)
        cb(4, 4)
    assert capsys.readouterr().err.startswith("verifying: 4/4 (")


def test_bar_is_clipped():
    assert bar(2.0, width=4) == "████" and bar(-1.0, width=4) == "····" and bar(0.5, width=4) == "██··"
