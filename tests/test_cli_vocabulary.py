"""One vocabulary across commands (issue 15, item 7): --json on every command that changes a record,
alias --remove like tag --remove (--delete kept), --dataset/-d for rank's and ensemble's target,
eval's JSON with train's metric names, epochs as integers."""

from __future__ import annotations

import json

import pytest
from conftest import make_spec, make_tensors
from promptkit.cli.app import app
from promptkit.registry import Registry
from rank_helpers import add_sources, colour_folder, tiny_backbone
from typer.testing import CliRunner

runner = CliRunner()


@pytest.fixture
def reg(registry):
    registry.add("me/a", make_tensors(seed=1), make_spec(task="ta", metrics={"best_epoch": 10.0, "test_acc": 0.5}))
    registry.add("me/a", make_tensors(seed=2), make_spec(task="ta"))
    return registry


def run(reg, *args):
    return runner.invoke(app, [*map(str, args), "--registry", str(reg.root)])


def test_json_on_tag_alias_rm_export(reg, tmp_path):
    assert json.loads(run(reg, "tag", "me/a:1", "k=v", "--json").stdout) == {"ref": "me/a:1", "tags": {"k": "v"}}
    data = json.loads(run(reg, "alias", "me/a:1", "prod", "--json").stdout)
    assert data == {"alias": "me/a@prod", "ref": "me/a:1", "previous": None, "removed": False}
    assert json.loads(run(reg, "alias", "me/a:2", "prod", "--json").stdout)["previous"] == "me/a:1"
    assert json.loads(run(reg, "export", "me/a@prod", tmp_path / "out", "--json").stdout)["ref"] == "me/a:2"
    data = json.loads(run(reg, "rm", "me/a:2", "--yes", "--json").stdout)
    assert data == {"removed": ["me/a:2"], "aliases_removed": ["me/a@prod"]}


@pytest.mark.parametrize("flag", ["--remove", "-r", "--delete"])
def test_alias_remove_like_tag_remove(reg, flag):
    run(reg, "alias", "me/a:1", "prod")
    result = run(reg, "alias", "me/a", "prod", flag)
    assert result.exit_code == 0 and "removed alias me/a@prod" in result.stdout


def test_show_prints_epochs_as_integers(reg):
    out = run(reg, "show", "me/a:1").stdout
    assert "metric best_epoch" in out and "10.0000" not in out and "0.5000" in out


@pytest.mark.parametrize("flag", ["--dataset", "-d"])
def test_rank_takes_dataset_like_train_and_eval(tmp_path, flag):
    r = Registry(tmp_path / "reg", builtin=False)
    add_sources(r, tiny_backbone())
    folder = colour_folder(tmp_path / "colours")
    result = runner.invoke(app, ["rank", flag, str(folder), "--registry", str(r.root), "--device", "cpu", "-q"])
    assert result.exit_code == 0, result.output and len(result.stdout.split()) == 3


def test_eval_json_uses_train_metric_names(tmp_path, monkeypatch):
    monkeypatch.delenv("PROMPTKIT_NO_BUILTIN")
    result = runner.invoke(app, ["eval", "zoo/digits:2", "--dataset", "zoo-digits", "--device", "cpu", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["test_acc"] == data["accuracy"] and "val_acc" in data


@pytest.mark.parametrize("command", ["rank", "ensemble"])
def test_rank_and_ensemble_take_precision_like_train_and_eval(tmp_path, command):
    result = runner.invoke(app, [command, "-d", "zoo-digits", "--precision", "fp8", "--registry",
                                 str(tmp_path / "nowhere")])
    assert result.exit_code == 2 and "fp8" in result.stderr and "nowhere" not in result.stderr


def _printing_commands() -> list[str]:
    import inspect

    return [c.name or c.callback.__name__ for c in app.registered_commands
            if not c.hidden and "json_out" in inspect.signature(c.callback).parameters]


def test_every_command_with_json_has_format():
    commands = _printing_commands()
    assert {"list", "show", "rank", "ensemble", "eval", "train", "tag", "alias", "rm", "export", "lineage",
            "cache", "plugins", "datasets", "push", "pull", "verify", "add"} <= set(commands)
    for name in commands:
        help_text = runner.invoke(app, [name, "--help"], env={"COLUMNS": "200"}).stdout
        assert "--format" in help_text and "--json" in help_text, name


def test_format_json_and_quiet_are_json_and_quiet(reg):
    assert run(reg, "list", "--format", "json").stdout == run(reg, "list", "--json").stdout
    assert run(reg, "list", "--format", "quiet").stdout == run(reg, "list", "-q").stdout == "me/a:1\nme/a:2\n"
    assert "me/a:1" in run(reg, "list", "--format", "table").stdout
    bad = run(reg, "show", "me/a", "--format", "quiet")
    assert bad.exit_code == 2 and "not one of table, json" in bad.stderr


def _short_flags() -> dict[str, set[tuple[str, frozenset[str]]]]:
    """Every visible short flag -> {(command, the long names it stands for)}."""
    import typer.main

    group = typer.main.get_command(app)
    seen: dict[str, set[tuple[str, str]]] = {}
    for name, command in group.commands.items():
        for param in command.params:
            if getattr(param, "hidden", False):
                continue
            longs = [o for o in param.opts if o.startswith("--")]
            for short in (o for o in (*param.opts, *param.secondary_opts) if len(o) == 2 and o[0] == "-"):
                seen.setdefault(short, set()).add((name, frozenset(longs)))
    return seen


def test_each_short_flag_means_one_thing_in_every_command():
    for short, uses in _short_flags().items():
        shared = frozenset.intersection(*(longs for _, longs in uses))  # e.g. -d: --dataset everywhere
        assert shared, f"{short} means {sorted((c, sorted(longs)) for c, longs in uses)}"
    flags = _short_flags()
    assert {c for c, _ in flags["-t"]} <= {"add", "list", "ls"}  # ls: list's alias
    assert ("train", frozenset({"--length"})) in flags["-l"] and ("push", frozenset({"--message"})) in flags["-m"]


def test_rank_old_short_target_still_works_with_a_warning(tmp_path):
    r = Registry(tmp_path / "reg", builtin=False)
    add_sources(r, tiny_backbone())
    folder = colour_folder(tmp_path / "colours")
    result = runner.invoke(app, ["rank", "-t", str(folder), "--registry", str(r.root), "--device", "cpu", "-q"])
    assert result.exit_code == 0, result.output
    assert "warning: -t is deprecated" in result.stderr and "use -d/--target" in result.stderr
    assert len(result.stdout.split()) == 3


@pytest.mark.parametrize("command", ["rank", "ensemble"])
def test_target_is_still_required(tmp_path, command):
    result = runner.invoke(app, [command, "--registry", str(tmp_path / "nowhere")])
    assert result.exit_code == 2 and "missing option --target" in result.stderr


def test_old_and_new_target_spellings_disagreeing_is_an_error(tmp_path):
    result = runner.invoke(app, ["rank", "-t", "zoo-digits", "-d", "zoo-count", "--registry", str(tmp_path)])
    assert result.exit_code == 2 and "-t and -d/--target were both given" in result.stderr


def test_train_old_short_length_warns(tmp_path):
    # a bad dataset stops the run after the options are read: the warning comes first
    result = runner.invoke(app, ["train", "-d", "no-such-set", "-b", "zoo-vit", "-n", "me/x", "-m", "4",
                                 "--registry", str(tmp_path / "reg")])
    assert "warning: -m is deprecated" in result.stderr and "use -l/--length" in result.stderr
    assert result.exit_code != 0


@pytest.mark.parametrize("command", ["rank", "ensemble"])
def test_rank_and_ensemble_take_num_workers(tmp_path, command):
    result = runner.invoke(app, [command, "-d", "zoo-digits", "--num-workers", "-1", "--registry",
                                 str(tmp_path / "nowhere")])
    assert result.exit_code == 2 and "num_workers" in result.stderr.replace("-", "_")


def test_train_and_ensemble_share_the_tuning_defaults_of_train_config():
    import typer.main

    from promptkit.train import TrainConfig

    group = typer.main.get_command(app)
    defaults = {name: {p.name: p.default for p in group.commands[name].params} for name in ("train", "ensemble")}
    c = TrainConfig()
    for name, d in defaults.items():
        assert (d["optimizer"], d["lr"], d["head_lr"], d["batch_size"]) == (c.optimizer, c.lr, c.head_lr,
                                                                          c.batch_size), name
    assert defaults["train"]["epochs"] == c.epochs and defaults["ensemble"]["epochs"] == 2  # the job's budget


def test_show_says_how_a_single_prompt_composition_was_made(registry):
    from promptkit.registry import Lineage

    params = {"composition": "distill", "teacher": "hgprompt+stack", "teacher_val_acc": 0.485,
              "start": "zoo/count:2 as tuned in hgprompt+stack", "start_source": "zoo/count:2"}
    registry.add("me/d", make_tensors(seed=3), make_spec(task="ta", lineage=Lineage(method="hgprompt", params=params)))
    out = run(registry, "show", "me/d:1").stdout
    assert "distill (one prompt, 1 forward per image; distilled from hgprompt+stack (val 0.4850); started from" in out
    assert "zoo/count:2 as tuned in hgprompt+stack" in out
    registry.add("me/a2", make_tensors(seed=4), make_spec(task="ta", lineage=Lineage(
        method="hgprompt", params={"composition": "aligned"})))
    assert "aligned (one prompt, 1 forward per image)" in run(registry, "show", "me/a2:1").stdout
