"""``minillm eval``: the report card of one checkpoint, printed and written as JSON.

Generic parts work on any checkpoint (report §1.2: a model is measured on data it never saw):

    minillm eval --ckpt DIR --text FILE...          bits per byte of each text file
    minillm eval --ckpt DIR --qa FILE.jsonl         exact match of greedy answers; one JSON object a
                                                    line: {"question": "...", "answer": "..."}
                                                    (needs a tokenizer with the chat tokens)
    minillm eval --ckpt DIR --world                 the assistant's report card (rlhf/report_card.py)
                                                    for a checkpoint `minillm assistant` wrote: its
                                                    world is rebuilt from the saved seed and size;
                                                    KL to SFT when OUT/sft lies beside the checkpoint

``--json OUT`` writes every figure. ``minillm assistant`` prints the card of every stage side by side.
"""

from __future__ import annotations

import json
from pathlib import Path

from minillm.utils.fileio import atomic_write

__all__ = ["add_arguments", "read_qa", "run"]


def add_arguments(p) -> None:
    p.add_argument("--ckpt", required=True, help="a checkpoint or run directory")
    p.add_argument("--text", nargs="*", default=[], help="text files: bits per byte of each")
    p.add_argument("--qa", default=None, help='a JSONL file of {"question": ..., "answer": ...}: exact match')
    p.add_argument(
        "--world", action="store_true", help="the assistant's report card (checkpoints of `minillm assistant`)"
    )
    p.add_argument("--json", default=None, help="write the figures to this JSON file")


def read_qa(path: str | Path) -> list[tuple[str, str]]:
    """(question, answer) pairs of a JSONL file; a bad line is a ValueError naming its number."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no QA file at {path}")
    pairs = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError:
            item = None
        if not isinstance(item, dict) or not all(isinstance(item.get(k), str) for k in ("question", "answer")):
            raise ValueError(f"{path}:{n}: each line must be a JSON object with string 'question' and 'answer'")
        pairs.append((item["question"], item["answer"]))
    if not pairs:
        raise ValueError(f"{path} holds no questions")
    return pairs


def _world_card(ckpt: str, model, chat) -> dict:
    from minillm.data.world import make_world
    from minillm.models.loading import load
    from minillm.models.pretrained import read_checkpoint_state
    from minillm.rlhf.assistant import AssistantConfig, heldout_text, made_up_names
    from minillm.rlhf.knowledge import question_sets
    from minillm.rlhf.report_card import assistant_card

    path, state = read_checkpoint_state(ckpt)
    saved = state.get("configs", {}).get("assistant")
    if not isinstance(saved, dict):
        raise ValueError(  # noqa: TRY004 (a user error: the CLI's one-line ValueError)
            f"{ckpt} was not written by `minillm assistant`: no world to rebuild (use --text / --qa)"
        )

    c = AssistantConfig(**{k: v for k, v in saved.items() if k != "quick"})
    world = make_world(c.n_people, c.seed)
    sets = question_sets(world, made_up_names(world, c)[2], c.n_eval, c.seed)
    sft_run = path.parent.parent / "sft"  # `minillm assistant` writes OUT/<stage>/ckpt-*: the SFT model beside it
    ref = load(sft_run)[0] if sft_run.is_dir() else None
    card = assistant_card({"model": model}, ref or model, chat, sets, heldout_text(world, c), c.seed)["model"]
    if ref is None:
        del card["kl_to_sft"]  # no SFT model beside this checkpoint to compare with
    return card


def run(args) -> int:
    from minillm.models.loading import load
    from minillm.rlhf.report_card import ROWS, answers, bits_per_byte, exact_match
    from minillm.tokenizers.chat import ChatFormat

    texts = {f: Path(f) for f in args.text}
    for name, p in texts.items():
        if not p.is_file():
            raise FileNotFoundError(f"--text: no file at {name}")
    qa = read_qa(args.qa) if args.qa else None
    if not texts and qa is None and not args.world:
        raise ValueError("nothing to measure: give --text FILE..., --qa FILE.jsonl or --world")
    model, tok = load(args.ckpt)
    if tok is None:
        raise ValueError(f"{args.ckpt} has no tokenizer.json; its text cannot be encoded")
    figures: dict = {"ckpt": str(args.ckpt)}
    for name, p in texts.items():
        figures[f"bits_per_byte:{name}"] = bpb = bits_per_byte(model, tok, p.read_text(encoding="utf-8"))
        print(f"bits per byte  {bpb:.3f}  {name}")
    if qa is not None or args.world:
        try:
            chat = ChatFormat(tok)
        except ValueError as err:
            raise ValueError(f"{args.ckpt}: {err}") from None
    if qa is not None:
        said = answers(model, chat, [[{"role": "user", "content": q}] for q, _ in qa])
        figures["exact_match"] = em = exact_match(said, [a for _, a in qa])
        print(f"exact match    {em:.1%}  ({len(qa)} questions, {args.qa})")
    if args.world:
        card = _world_card(args.ckpt, model, chat)
        figures["card"] = card
        for key, label, fmt in ROWS:
            if key in card:
                print(f"{label:<38}{fmt.format(card[key]):>10}")
    if args.json:
        text = json.dumps(figures, indent=1, ensure_ascii=False)
        atomic_write(args.json, lambda t: Path(t).write_text(text, encoding="utf-8"))
        print(f"wrote {args.json}")
    return 0
