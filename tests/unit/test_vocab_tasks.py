import pytest

from memscope.errors import ConfigError, MemscopeError
from memscope.tasks import TASKS, make_task
from memscope.vocab import Vocab


def test_vocab_roundtrip_and_unknown_characters():
    v = Vocab.from_text("<1+2=3>\n")
    assert v.chars == "\n+123<=>"
    assert v.encode("<3=2+1>") == [5, 4, 6, 3, 1, 2, 7]  # indices into "\n+123<=>"
    assert v.decode([7, 0, 2, 1]) == ">\n1+"
    with pytest.raises(MemscopeError, match=r"'x'.*'y'"):
        v.encode("1x2y")


def test_registry_lists_known_names():
    assert {"arithmetic", "capitals", "combined"} <= set(TASKS)
    with pytest.raises(ConfigError, match="unknown task 'nope'; known: arithmetic"):
        make_task("nope")


def test_arithmetic_text_matches_the_paper():
    task = make_task("arithmetic")
    lines = task.lines()
    assert len(lines) == 196
    assert all(len(line) == 9 and line.endswith("\n") for line in lines)
    assert "<7+7=14>\n" in lines and "<7-7=0> \n" in lines and "<1-4=-3>\n" in lines
    for withheld in ("<5+7=", "<7+5=", "<5-7=", "<7-5="):
        assert not any(line.startswith(withheld) for line in lines)
    assert task.vocab.chars == "\n +-0123456789<=>"
    assert len(task.text) == 1764 and task.block_size == 9 and task.batch_size == 882
    assert sorted(lines) != lines  # shuffled once
    assert lines == make_task("arithmetic").lines()  # ... deterministically


def test_arithmetic_suites_flag_exactly_the_withheld_prompts():
    suites = make_task("arithmetic").eval_suites()
    assert [s.name for s in suites] == ["add", "sub"]
    assert all(len(s.prompts) == 100 for s in suites)
    held = sorted(p.text for s in suites for p in s.prompts if p.withheld)
    assert held == ["<5+7=", "<5-7=", "<7+5=", "<7-5="]
    answers = {p.text: p.answer for s in suites for p in s.prompts}
    assert answers["<1-4="] == "-3" and answers["<9+9="] == "18"


def test_arithmetic_is_configurable():
    task = make_task("arithmetic", {"withheld": "2,3;4,4", "digits": "6", "operators": "+"})
    lines = task.lines()
    assert len(lines) == 36 - 2 - 1
    assert not any(line.startswith(("<2+3=", "<3+2=", "<4+4=")) for line in lines)
    assert task.params()["withheld"] == ((2, 3), (4, 4))
    with pytest.raises(ConfigError, match="outside the digits"):
        make_task("arithmetic", {"withheld": "5,7", "digits": 6})
    with pytest.raises(ConfigError, match="operators"):
        make_task("arithmetic", {"operators": "*"})
    with pytest.raises(ConfigError, match="withheld"):
        make_task("arithmetic", {"withheld": "5,x"})


def test_capitals_text_matches_the_paper():
    task = make_task("capitals")
    lines = task.lines()
    assert len(lines) == 50
    assert lines[0] == "Capital of France is Paris \n"
    assert lines[1] == "Capital of the USA is Washington DC \n"
    assert lines[-1] == "Capital of Zambia is Lusaka \n"
    assert len(task.vocab) == 51 and task.block_size == 24 and task.batch_size == 576
    (suite,) = task.eval_suites()
    assert suite.prompts[1].text == "Capital of the USA is " and suite.prompts[1].answer == "Washington DC"
    assert suite.max_new_tokens == 20 and not any(p.withheld for p in suite.prompts)


def test_combined_is_arithmetic_then_capitals():
    task = make_task("combined")
    lines = task.lines()
    assert len(lines) == 246
    assert lines[:196] == make_task("arithmetic").lines()
    assert lines[196:] == make_task("capitals").lines()
    assert len(task.vocab) == 66 and task.block_size == 24 and task.batch_size == 576
    assert [s.name for s in task.eval_suites()] == ["add", "sub", "facts"]
