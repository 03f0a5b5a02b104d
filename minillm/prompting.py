"""Prompt builders: instruction, few-shot (in-context) and chain-of-thought prompts.

Report §1.2.2-3 (模型提示 prompting):
- instruction / in-context prompts (指令提示), few-shot as introduced with GPT-3 (Brown et al.
  2020): instead of changing the model for a task, write the task as text the model already knows
  how to continue — an instruction, or a few ⟨input, output⟩ demonstrations followed by the query;
- chain-of-thought prompts (思维链提示, Wei et al. 2022): demonstrations become ⟨input, chain of
  thought, output⟩ triples, so the model writes intermediate steps before the answer, and the
  answer can be checked against the steps.

Templates are plain frozen dataclasses of format strings; each checks at construction that it
has exactly the placeholders it needs. The same templates serve SFT data (report §1.2.2-2).

    instruction_prompt("Sort the digits.", "3 1 2")
    few_shot_prompt([("3 1 2", "1 2 3")], "5 4 6")
    chain_of_thought_prompt([("2+3*4", "3*4=12, 2+12=14", "14")], "1+2*3")

Docs: docs/prompting.md. Experiments: examples/07_chain_of_thought.py, examples/08_few_shot.py.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from typing import Mapping, Sequence

__all__ = [
    "InstructionTemplate",
    "FewShotTemplate",
    "ChainOfThoughtTemplate",
    "instruction_prompt",
    "zero_shot_prompt",
    "few_shot_prompt",
    "chain_of_thought_prompt",
    "extract_answer",
    "parse_number",
    "parse_choice",
    "check_prompt_fits",
]


def _placeholders(fmt: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(fmt) if name is not None}


def _require(template: object, field: str, needed: set[str]) -> None:
    fmt = getattr(template, field)
    found = _placeholders(fmt)
    missing, extra = needed - found, found - needed
    if missing:
        names = ", ".join("{" + n + "}" for n in sorted(missing))
        raise ValueError(f"{type(template).__name__}.{field} {fmt!r} is missing the placeholder {names}")
    if extra:
        names = ", ".join("{" + n + "}" for n in sorted(extra))
        raise ValueError(f"{type(template).__name__}.{field} {fmt!r} has unknown placeholder {names}")


@dataclass(frozen=True)
class InstructionTemplate:
    """An (instruction, optional input) → prompt layout; the model writes the response after it."""

    with_input: str = "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n"
    without_input: str = "### Instruction:\n{instruction}\n\n### Response:\n"

    def __post_init__(self):
        _require(self, "with_input", {"instruction", "input"})
        _require(self, "without_input", {"instruction"})


@dataclass(frozen=True)
class FewShotTemplate:
    """Demonstrations ``example`` joined by ``separator``, then the ``query`` to complete."""

    example: str = "Input: {input}\nOutput: {output}"
    query: str = "Input: {input}\nOutput:"
    separator: str = "\n\n"
    prefix: str = ""  # e.g. a task description placed before the demonstrations

    def __post_init__(self):
        _require(self, "example", {"input", "output"})
        _require(self, "query", {"input"})


@dataclass(frozen=True)
class ChainOfThoughtTemplate:
    """⟨input, chain of thought, output⟩ demonstrations; ``answer_marker`` introduces the answer."""

    example: str = "Q: {input}\nA: {chain} The answer is {output}."
    query: str = "Q: {input}\nA:"
    separator: str = "\n\n"
    prefix: str = ""
    answer_marker: str = "The answer is"

    def __post_init__(self):
        _require(self, "example", {"input", "chain", "output"})
        _require(self, "query", {"input"})
        if not self.answer_marker:
            raise ValueError("ChainOfThoughtTemplate.answer_marker must not be empty")


INSTRUCTION = InstructionTemplate()
FEW_SHOT = FewShotTemplate()
CHAIN_OF_THOUGHT = ChainOfThoughtTemplate()


def _fields(example, names: tuple[str, ...]) -> dict[str, str]:
    if isinstance(example, Mapping):
        missing = [n for n in names if n not in example]
        if missing:
            raise ValueError(f"example {example!r} lacks the key(s) {missing}")
        return {n: str(example[n]) for n in names}
    if isinstance(example, (tuple, list)) and len(example) == len(names):
        return {n: str(v) for n, v in zip(names, example)}
    raise ValueError(f"example {example!r} must be a {len(names)}-tuple or a mapping with keys {list(names)}")


def instruction_prompt(instruction: str, input: str | None = None, template: InstructionTemplate = INSTRUCTION) -> str:
    """Instruction (and optional input) laid out for an instruction-tuned model."""
    if not isinstance(instruction, str) or not instruction.strip():
        raise ValueError("instruction must be a non-empty string")
    if input is None or input == "":
        return template.without_input.format(instruction=instruction)
    return template.with_input.format(instruction=instruction, input=input)


def zero_shot_prompt(query: str, template: FewShotTemplate = FEW_SHOT) -> str:
    """The query alone, in the few-shot layout (0 demonstrations)."""
    return template.prefix + template.query.format(input=query)


def few_shot_prompt(examples: Sequence, query: str, template: FewShotTemplate = FEW_SHOT) -> str:
    """≥ 1 ⟨input, output⟩ demonstrations, then the query (GPT-3's in-context learning)."""
    if not examples:
        raise ValueError("few_shot_prompt needs at least one example (use zero_shot_prompt for none)")
    shots = [template.example.format(**_fields(e, ("input", "output"))) for e in examples]
    return template.prefix + template.separator.join([*shots, template.query.format(input=query)])


# --8<-- [start:cot]
def chain_of_thought_prompt(examples: Sequence, query: str, template: ChainOfThoughtTemplate = CHAIN_OF_THOUGHT) -> str:
    """≥ 1 ⟨input, chain of thought, output⟩ demonstrations, then the query."""
    if not examples:
        raise ValueError("chain_of_thought_prompt needs at least one ⟨input, chain, output⟩ example")
    shots = [template.example.format(**_fields(e, ("input", "chain", "output"))) for e in examples]
    return template.prefix + template.separator.join([*shots, template.query.format(input=query)])
# --8<-- [end:cot]


def extract_answer(generated: str, marker: str = CHAIN_OF_THOUGHT.answer_marker, stop: str = "\n") -> str | None:
    """The answer after the *last* ``marker`` in ``generated``, up to ``stop``; None if absent.

    Trailing spaces and a final full stop are removed. A chain that never reaches the marker, or
    reaches it with nothing after it, has no answer (None) — it is counted wrong, not crashed on.
    """
    if not marker:
        raise ValueError("marker must not be empty")
    at = generated.rfind(marker)
    if at < 0:
        return None
    answer = generated[at + len(marker) :]
    if stop:
        answer = answer.split(stop, 1)[0]
    answer = answer.strip()
    if answer.endswith("."):
        answer = answer[:-1].rstrip()
    return answer or None


_INTEGER = re.compile(r"[+-]?\d+")


def parse_number(generated: str, marker: str | None = None, stop: str = "\n") -> int | None:
    """The integer a reply answers with, for a program to check (a verifiable reward); None if malformed.

    With ``marker`` (a final-answer marker such as ";" or "Answer:") the number after its last
    occurrence; without, the number after the last "=". Only the text before ``stop`` counts. The
    answer must be a whole integer ("125", "-3", "125."), not "12a", "1 2", "" or a missing marker: a
    reply cut off before its answer earns nothing rather than whatever number it reached last.
    """
    if marker is not None and not marker:
        raise ValueError("marker must be None (the last '=') or a non-empty string")
    line = generated.split(stop, 1)[0] if stop else generated
    answer = extract_answer(line, marker or "=", stop="")
    return int(answer) if answer is not None and _INTEGER.fullmatch(answer) else None


def parse_choice(generated: str, choices: str = "ABCD", marker: str = "answer") -> str | None:
    """The letter a multiple-choice reply picks; None if it picks none, or two.

    The reply is the letter alone ("B", "(B)", "B."), or names it after the last ``marker`` (case
    ignored): "The answer is (C).", "Answer: D". A letter that is part of a word does not count.
    """
    if not choices or len(set(choices)) != len(choices):
        raise ValueError(f"choices must be distinct letters, got {choices!r}")
    at = generated.lower().rfind(marker.lower()) if marker else -1
    tail = generated[at + len(marker) :] if at >= 0 else generated
    letters = set(re.findall(rf"(?<![A-Za-z])([{re.escape(choices)}])(?![A-Za-z])", tail))
    if at < 0 and not re.fullmatch(rf"\s*\(?[{re.escape(choices)}][).]?\s*", generated):
        return None  # no marker: only a bare letter is an answer
    return letters.pop() if len(letters) == 1 else None


def check_prompt_fits(n_prompt_tokens: int, block_size: int, max_new_tokens: int = 0) -> None:
    """Raise ValueError if a prompt plus the tokens to generate does not fit the model's context."""
    if n_prompt_tokens + max_new_tokens > block_size:
        raise ValueError(
            f"prompt of {n_prompt_tokens} tokens + {max_new_tokens} new tokens exceeds the model's "
            f"context (block_size={block_size}); use fewer or shorter examples"
        )
