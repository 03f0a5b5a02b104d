"""The chat format: a conversation of system / user / assistant turns as token ids and a loss mask.

Report §1.2.2-2 (instruction tuning): the model learns to follow the *assistant's* part of a
conversation, so the template must mark who speaks, and the loss must fall on the assistant's
tokens only. Each turn is its role token, its text, and ``<|end|>``:

    <|system|>You answer briefly.<|end|><|user|>Where was Zhang Wei born?<|end|><|assistant|>Chengdu<|end|>

``render(messages)`` returns the ids and a mask that is True on every token the model is trained to
produce: the assistant's text and its ``<|end|>`` (which teaches it to stop). ``prompt(messages)``
ends with ``<|assistant|>``: what a model continues to reply. The role tokens are *special tokens*
of the tokenizer (one id each, never produced by encoding ordinary text), and text typed by a user
can never become one: ``check_conversation`` refuses any special-token string inside a turn, and
the text is encoded with special tokens switched off as well.

When a conversation outgrows the context, ``fit_context`` drops the oldest user/assistant
exchanges (the system turn stays) until the prompt and the reply's room fit; a last user turn
that does not fit even alone is an error. Docs: docs/assistant.md#the-chat-format.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["CHAT_TOKENS", "END", "ROLES", "ChatFormat", "check_conversation"]

ROLES = ("system", "user", "assistant")
END = "<|end|>"
CHAT_TOKENS = tuple(f"<|{role}|>" for role in ROLES) + (END,)


def check_conversation(messages, reserved: Sequence[str] = CHAT_TOKENS, ends_with: str | None = None) -> list[dict]:
    """``messages`` as a list of {"role", "content"} dicts, checked: known roles, non-empty text with
    none of the ``reserved`` strings in it, an optional system turn first, then user and assistant
    in turn, starting with the user (and ending with ``ends_with`` when given). One ValueError naming
    the turn, before any encoding."""
    if isinstance(messages, (str, bytes)) or not isinstance(messages, Sequence) or not messages:
        raise ValueError("a conversation is a non-empty list of {'role': ..., 'content': ...} turns")
    expected = "user"
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or set(m) != {"role", "content"}:
            raise ValueError(f"turn {i} must be a dict with exactly 'role' and 'content', got {m!r}")
        role, content = m["role"], m["content"]
        if role not in ROLES:
            raise ValueError(f"turn {i}: unknown role {role!r}; known roles: {ROLES}")
        if not isinstance(content, str) or not content.strip():
            raise ValueError(f"turn {i} ({role}): empty turn; every turn needs some text")
        hidden = next((s for s in reserved if s in content), None)
        if hidden is not None:
            raise ValueError(
                f"turn {i} ({role}): the text contains the special token {hidden!r}, which only the template may write"
            )
        if role == "system":
            if i != 0:
                raise ValueError(f"turn {i}: a system turn may only come first")
            continue
        if role != expected:
            raise ValueError(f"turn {i}: expected role {expected!r} (user and assistant take turns), got {role!r}")
        expected = "assistant" if role == "user" else "user"
    if ends_with is not None and messages[-1]["role"] != ends_with:
        raise ValueError(f"the conversation must end with role {ends_with!r}, got {messages[-1]['role']!r}")
    return list(messages)


class ChatFormat:
    """The template on a tokenizer that knows the chat tokens (``CHAT_TOKENS`` among its special
    tokens: train it with them, e.g. ``BPETokenizer.train(text, 1024, special_tokens=[*CHAT_TOKENS])``)."""

    def __init__(self, tokenizer):
        special = getattr(tokenizer, "special_tokens", None)
        missing = [t for t in CHAT_TOKENS if not special or t not in special]
        if missing:
            raise ValueError(
                f"the tokenizer has no chat format: special tokens {missing} are missing "
                "(train it with special_tokens=CHAT_TOKENS; a character tokenizer has none)"
            )
        self.tokenizer = tokenizer
        self.reserved = tuple(special)  # every special token, not only the chat ones: none may hide in text
        self.role_id = {role: special[f"<|{role}|>"] for role in ROLES}
        self.end_id = special[END]

    def encode_text(self, text: str) -> list[int]:
        """Ordinary text → ids, special-token strings read as plain text (the second line of defence)."""
        return self.tokenizer.encode(text, allow_special=False)

    def render(self, messages) -> tuple[list[int], list[bool]]:
        """Token ids of the whole conversation and the loss mask (True: an assistant token to learn)."""
        ids, mask = [], []
        for m in check_conversation(messages, self.reserved):
            body = [*self.encode_text(m["content"]), self.end_id]
            ids += [self.role_id[m["role"]], *body]
            mask += [False] + [m["role"] == "assistant"] * len(body)
        return ids, mask

    def prompt(self, messages) -> list[int]:
        """The ids a model continues to write the next assistant turn: the conversation + ``<|assistant|>``."""
        return self.render(check_conversation(messages, self.reserved, ends_with="user"))[0] + [
            self.role_id["assistant"]
        ]

    def text(self, messages) -> str:
        """The same conversation as text with the special tokens written out (``encode`` gives ``render``'s ids)."""
        check_conversation(messages, self.reserved)
        return "".join(f"<|{m['role']}|>{m['content']}{END}" for m in messages)

    def pair(self, messages) -> tuple[str, str]:
        """(prompt text, reply text) of a conversation ending with the assistant: SFT's pair, whose
        prompt is masked out of the loss (minillm.rlhf.sft)."""
        check_conversation(messages, self.reserved, ends_with="assistant")
        return self.text(messages[:-1]) + "<|assistant|>", messages[-1]["content"] + END

    def fit_context(self, messages, block_size: int, reply_room: int) -> list[dict]:
        """The newest part of a conversation ending with a user turn whose ``prompt`` leaves
        ``reply_room`` tokens free in ``block_size``: the oldest user/assistant exchanges are dropped,
        the system turn is kept. ValueError when even the last user turn cannot fit."""
        messages = check_conversation(messages, self.reserved, ends_with="user")
        system = messages[:1] if messages[0]["role"] == "system" else []
        turns = messages[len(system) :]
        while True:
            if len(self.prompt(system + turns)) + reply_room <= block_size:
                return system + turns
            if len(turns) == 1:
                need = len(self.prompt(system + turns)) + reply_room
                raise ValueError(
                    f"the last message needs {need} tokens with its reply's room ({reply_room}) "
                    f"but the context holds {block_size}: shorten it"
                )
            turns = turns[2:]  # the oldest user question and the assistant's answer
