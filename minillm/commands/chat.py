"""``minillm chat --ckpt DIR``: talk to a checkpoint in the terminal, token by token.

Report §1.2.2: what the instruction-tuned, aligned model is for. The checkpoint's tokenizer must
carry the chat tokens (minillm/tokenizers/chat.py); ``minillm assistant`` writes such checkpoints.

    /reset            forget the conversation (the system message stays)
    /temperature x    0 = greedy (the default), larger = more varied
    /system text      a new system message; the conversation starts over
    Ctrl-C            stops the reply being written (what was written stays); the program goes on
    Ctrl-D            (end of input) exits

The KV cache carries across turns: the keys and values of everything already read stay cached, and
a new turn feeds only its new tokens. The cache is rebuilt when the conversation no longer starts
with what it holds (after /reset or /system, or when the oldest exchange is dropped).

Context rule: before each reply the conversation must leave room for ``--max-new-tokens`` in the
model's context; if it does not, the oldest user/assistant exchanges are dropped (the system
message is kept) and a note says so. A message that cannot fit even alone is refused.
"""

from __future__ import annotations

import sys

import torch

from minillm.decoding.generation import check_sampling, sample_next
from minillm.tokenizers.chat import ChatFormat

__all__ = ["ChatSession", "add_arguments", "run"]


class ChatSession:
    """One conversation with a model: its turns, its KV cache, its sampling settings."""

    def __init__(self, model, chat: ChatFormat, max_new_tokens: int = 48, temperature: float = 0.0, seed: int = 0):
        if max_new_tokens < 1 or max_new_tokens >= model.block_size:
            raise ValueError(
                f"--max-new-tokens must be in [1, {model.block_size - 1}] (the context), got {max_new_tokens}"
            )
        check_sampling(temperature, None, None)
        self.model, self.chat, self.max_new_tokens, self.temperature = model.eval(), chat, max_new_tokens, temperature
        self.generator = torch.Generator().manual_seed(seed)
        self.system: str | None = None
        self.turns: list[dict] = []
        self.caches, self.cached = None, []  # the KV caches and the token ids they hold
        self.dropped = 0
        self.stop_ids = set(chat.tokenizer.special_tokens.values())

    def reset(self) -> None:
        self.turns = []

    def set_system(self, text: str) -> None:
        self.chat.render([{"role": "system", "content": text}])  # refuses an empty or special-token text now
        self.system, self.turns = text, []

    def messages(self) -> list[dict]:
        return ([{"role": "system", "content": self.system}] if self.system else []) + self.turns

    def _feed(self, ids: list[int]) -> torch.Tensor:
        """Logits (1, V) after ``ids``, reusing the cache where ``ids`` extends what it holds."""
        n = len(self.cached)
        if self.caches is None or ids[:n] != self.cached or len(ids) == n:
            self.caches, self.cached, n = self.model.new_kv_caches(), [], 0
        logits = self.model.decode_step(torch.tensor([ids[n:]]), self.caches)[:, -1]  # (1, V)
        self.cached = list(ids)
        return logits

    def reply(self, text: str):
        """Check and fit the user's ``text`` into the conversation now (a ValueError before any
        output), then return a generator of the reply's pieces; the turn is kept as far as it got
        (a reply stopped early by Ctrl-C included). ``self.dropped``: exchanges dropped to fit."""
        if self.turns and self.turns[-1]["role"] == "user":  # a reply that never started: its question goes
            self.turns.pop()
        asked = self.messages() + [{"role": "user", "content": text}]
        fitted = self.chat.fit_context(asked, self.model.block_size, self.max_new_tokens)  # refuses bad text too
        self.dropped = (len(asked) - len(fitted)) // 2
        self.turns = fitted[1:] if self.system else fitted
        return self._stream(self.chat.prompt(fitted))

    @torch.no_grad()
    def _stream(self, ids: list[int]):
        reply, shown = [], ""
        try:
            for _ in range(self.max_new_tokens):
                token = sample_next(self._feed(ids + reply), self.temperature, generator=self.generator).item()
                if token in self.stop_ids:  # <|end|>, or a role token: the model ended its turn either way
                    break
                reply.append(token)
                text_so_far = self.chat.tokenizer.decode(reply)
                if not text_so_far.endswith("\ufffd"):  # a Chinese character may take several byte tokens
                    yield text_so_far[len(shown) :]
                    shown = text_so_far
            rest = self.chat.tokenizer.decode(reply)[len(shown) :]
            if rest:  # bytes that never completed a character show as U+FFFD
                yield rest
        finally:
            said = self.chat.tokenizer.decode(reply).strip()
            if said and all(s not in said for s in self.chat.reserved):
                self.turns.append({"role": "assistant", "content": said})
            else:
                self.turns.pop()  # nothing said: the question goes too, so user and assistant alternate


def add_arguments(p) -> None:
    p.add_argument("--ckpt", required=True, help="a checkpoint or run directory whose tokenizer has the chat tokens")
    p.add_argument("--temperature", type=float, default=0.0, help="0 = greedy")
    p.add_argument("--max-new-tokens", type=int, default=48)
    p.add_argument("--system", default=None, help="a system message to start with")
    p.add_argument("--seed", type=int, default=0)


def _command(session: ChatSession, line: str, out) -> None:
    name, _, arg = line.partition(" ")
    if name == "/reset":
        session.reset()
        print("(conversation reset)", file=out)
    elif name == "/temperature":
        try:
            t = float(arg)
            check_sampling(t, None, None)
        except ValueError:
            print(f"error: /temperature needs a finite number >= 0, got {arg!r}", file=out)
            return
        session.temperature = t
        print(f"(temperature {t})", file=out)
    elif name == "/system":
        session.set_system(arg.strip())
        print("(system message set; conversation reset)", file=out)
    else:
        print(f"error: unknown command {name!r}; known: /reset, /temperature x, /system text", file=out)


def run(args) -> int:
    from minillm.models.loading import load

    check_sampling(args.temperature, None, None)
    model, tok = load(args.ckpt)
    if tok is None:
        raise ValueError(f"{args.ckpt} has no tokenizer.json, so it has no chat format")
    try:
        chat = ChatFormat(tok)
    except ValueError as err:
        raise ValueError(f"{args.ckpt}: {err}") from None
    session = ChatSession(model, chat, args.max_new_tokens, args.temperature, args.seed)
    if args.system:
        session.set_system(args.system)
    out = sys.stdout
    print(
        f"minillm chat: {args.ckpt} ({model.block_size}-token context). "
        "/reset, /temperature x, /system text; Ctrl-D exits."
    )
    while True:
        try:
            line = input("you> ")
        except EOFError:
            print()
            return 0
        except KeyboardInterrupt:
            print("\n(Ctrl-D exits)")
            continue
        line = line.strip()
        if not line:
            continue
        try:
            if line.startswith("/"):
                _command(session, line, out)
                continue
            pieces = session.reply(line)
            print("assistant> ", end="", flush=True)
            try:
                for piece in pieces:
                    print(piece, end="", flush=True)
            except KeyboardInterrupt:
                pieces.close()  # the reply so far is kept (ChatSession.reply's finally)
                print(" (stopped)", end="")
            print()
            if session.dropped:
                print(
                    f"(the oldest {session.dropped} exchange(s) were dropped "
                    f"to fit the {model.block_size}-token context)"
                )
        except ValueError as err:
            print(f"error: {err}")
