"""Prompt builders produce exactly the documented strings; the answer parser survives bad chains."""

import pytest

from minillm.prompting import (
    ChainOfThoughtTemplate,
    FewShotTemplate,
    InstructionTemplate,
    chain_of_thought_prompt,
    check_prompt_fits,
    extract_answer,
    few_shot_prompt,
    instruction_prompt,
    parse_choice,
    parse_number,
    zero_shot_prompt,
)


def test_instruction_prompt_exact_strings():
    assert instruction_prompt("Sort the digits.", "3 1 2") == (
        "### Instruction:\nSort the digits.\n\n### Input:\n3 1 2\n\n### Response:\n"
    )
    assert instruction_prompt("Say hello.") == "### Instruction:\nSay hello.\n\n### Response:\n"
    assert instruction_prompt("Say hello.", "") == "### Instruction:\nSay hello.\n\n### Response:\n"


def test_few_shot_prompt_exact_string():
    got = few_shot_prompt([("3 1 2", "1 2 3"), {"input": "9 8", "output": "8 9"}], "5 4 6")
    assert got == "Input: 3 1 2\nOutput: 1 2 3\n\nInput: 9 8\nOutput: 8 9\n\nInput: 5 4 6\nOutput:"
    custom = FewShotTemplate(example="{input}>{output}", query="{input}>", separator=";", prefix="rev:")
    assert few_shot_prompt([("ab", "ba")], "cd", custom) == "rev:ab>ba;cd>"
    assert zero_shot_prompt("cd", custom) == "rev:cd>"


def test_chain_of_thought_prompt_exact_string():
    got = chain_of_thought_prompt([("2+3*4", "3*4=12, 2+12=14.", "14")], "1+2*3")
    assert got == "Q: 2+3*4\nA: 3*4=12, 2+12=14. The answer is 14.\n\nQ: 1+2*3\nA:"


@pytest.mark.parametrize(
    "text,expected",
    [
        ("3*4=12, 2+12=14. The answer is 14.", "14"),
        ("The answer is 3. Wait. The answer is 14.\nQ: next", "14"),  # last marker wins, stops at newline
        ("3*4=12, 2+12=", None),  # chain cut off before the answer
        ("The answer is", None),  # marker with nothing after it
        ("", None),
        ("the answer is 5", None),  # case matters: not the marker
    ],
)
def test_extract_answer_handles_malformed_chains(text, expected):
    assert extract_answer(text) == expected


def test_extract_answer_custom_marker():
    assert extract_answer("8+7=15,5+6+1=12;125\n", marker=";") == "125"
    assert extract_answer("8+7=15,5+6", marker=";") is None
    with pytest.raises(ValueError, match="marker"):
        extract_answer("x", marker="")


def test_empty_example_lists_raise():
    with pytest.raises(ValueError, match="at least one example"):
        few_shot_prompt([], "q")
    with pytest.raises(ValueError, match="at least one"):
        chain_of_thought_prompt([], "q")
    with pytest.raises(ValueError, match="non-empty"):
        instruction_prompt("  ")


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda: FewShotTemplate(example="{input} -> ?"), r"missing the placeholder \{output\}"),
        (lambda: FewShotTemplate(query="Output:"), r"missing the placeholder \{input\}"),
        (lambda: ChainOfThoughtTemplate(example="{input} {output}"), r"\{chain\}"),
        (lambda: InstructionTemplate(without_input="{instruction} {input}"), r"unknown placeholder \{input\}"),
        (lambda: ChainOfThoughtTemplate(answer_marker=""), "answer_marker"),
    ],
)
def test_templates_missing_placeholders_raise(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_bad_example_shape_raises():
    with pytest.raises(ValueError, match="2-tuple or a mapping"):
        few_shot_prompt([("only input",)], "q")
    with pytest.raises(ValueError, match="lacks the key"):
        few_shot_prompt([{"input": "x"}], "q")


def test_prompt_longer_than_context_raises():
    check_prompt_fits(10, block_size=16, max_new_tokens=6)
    with pytest.raises(ValueError, match="exceeds the model's context"):
        check_prompt_fits(10, block_size=16, max_new_tokens=7)


# -- answer parsing for verifiable rewards: well-formed replies, and malformed ones that earn nothing --
@pytest.mark.parametrize(
    "reply, marker, expected",
    [
        ("8+7=15,5+6+1=12;125\n", ";", 125),
        ("8+7=15,5+6+1=12;125\n9+9=18;18", ";", 125),  # only the first line counts
        ("8+7=15,5+6+1=12", ";", None),  # cut off before the marker: no answer, not 12
        ("8+7=15;", ";", None),
        ("8+7=15; 1 2", ";", None),
        ("8+7=15;12a", ";", None),
        ("x;12;13", ";", 13),  # the last marker
        ("Answer: 42.", "Answer:", 42),
        ("3+4=7", None, 7),
        ("3+4=-2", None, -2),
        ("3+4=7 ", None, 7),
        ("1=2=3", None, 3),
        ("3+4=", None, None),
        ("seven", None, None),
        ("", None, None),
        ("8+7=15,5+6+1=12;125", None, None),  # after the last "=" stands "12;125": not a number
    ],
)
def test_parse_number(reply, marker, expected):
    assert parse_number(reply, marker) == expected


@pytest.mark.parametrize(
    "reply, expected",
    [
        ("B", "B"), (" (B) ", "B"), ("B.", "B"), ("The answer is (C).", "C"), ("Answer: D", "D"),
        ("answer: A or B", None), ("E", None), ("AB", None), ("Bob", None), ("answer: maybe", None),
        ("I think B", None), ("", None), ("Because A, the answer is C", "C"),
    ],
)
def test_parse_choice(reply, expected):
    assert parse_choice(reply) == expected


def test_parsers_refuse_a_bad_marker_or_choice_set():
    with pytest.raises(ValueError, match="marker must be None"):
        parse_number("1=2", "")
    with pytest.raises(ValueError, match="choices must be distinct letters"):
        parse_choice("A", "AA")
