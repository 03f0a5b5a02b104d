"""One forward pass, everything the explorer shows: tokens, attention, the logit lens, experts, logits.

Report §1.2.1 (the four parts of the Transformer) seen from inside, on one prompt:

    tokens        how the tokenizer cut the text (bytes where a token is part of a UTF-8 character)
    attention     every layer's and head's weights (minillm.explain.attention)
    logit lens    what the residual stream after layer l would predict if decoding stopped there:
                  softmax(head(final_norm(h_l)))  (nostalgebraist 2020, "interpreting GPT: the logit lens")
    experts       in a mixture-of-experts layer, the k experts each token went to and their gates
    logits        the last position's next-token logits, which the page turns into a distribution
                  under temperature, top-k and top-p (minillm.decoding)

The activations are read with forward hooks that live only for this pass; the model is not
changed. ``trace`` handles GPT-2 and the later family, ``trace_seq2seq`` the 2017 encoder-decoder
(encoder self-attention, decoder self-attention and cross-attention). ``prompt_ids`` is the one
check of a prompt, before any work. Docs: docs/explain.md.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from minillm.explain.attention import decoder_attention_weights, multihead_attention_weights
from minillm.models.lm import LanguageModel
from minillm.models.transformer import Transformer
from minillm.nn.experts import MoEFeedForward
from minillm.tokenizers.ids import check_token_ids

__all__ = ["prompt_ids", "token_label", "trace", "trace_seq2seq"]


def prompt_ids(tokenizer, prompt, block_size: int, vocab_size: int, what: str = "prompt") -> list[int]:
    """The ids of ``prompt`` (text, or token ids when there is no tokenizer), or one ValueError
    naming the problem: empty, not encodable, longer than the context, ids outside the vocabulary."""
    if isinstance(prompt, str):
        if tokenizer is None:
            raise ValueError(f"the {what} is text but there is no tokenizer to encode it; pass token ids instead")
        if not prompt:
            raise ValueError(f"the {what} is empty: give at least one character")
        try:
            ids = tokenizer.encode(prompt)
        except ValueError as err:  # a character tokenizer that never saw a character, a lone surrogate
            raise ValueError(f"the {what} {prompt!r} cannot be encoded: {err}") from None
    else:
        try:
            ids = check_token_ids(prompt, vocab_size)
        except TypeError as err:
            raise TypeError(f"the {what} must be text or a sequence of token ids: {err}") from None
        if not ids:
            raise ValueError(f"the {what} is empty: give at least one token id")
    if not ids:
        raise ValueError(f"the {what} {prompt!r} encodes to no tokens")
    if len(ids) > block_size:
        raise ValueError(
            f"the {what} is {len(ids)} tokens long but the model's context holds {block_size}; shorten the {what}"
        )
    return ids


def token_label(tokenizer, i: int) -> dict:
    """How token ``i`` reads: ``text``, ``bytes`` (hex, only where the token is not whole UTF-8
    characters) and ``special`` (a special or role token such as a chat marker)."""
    if tokenizer is None:
        return {"text": f"#{i}", "bytes": None, "special": False}
    specials = getattr(tokenizer, "special_tokens", {})
    if i in specials.values():
        return {"text": tokenizer.decode([i]), "bytes": None, "special": True}
    raw = tokenizer.vocab[i] if hasattr(tokenizer, "vocab") else None  # byte-level BPE: the token's bytes
    if raw is None:
        return {"text": tokenizer.decode([i]), "bytes": None, "special": False}
    try:
        return {"text": raw.decode("utf-8"), "bytes": None, "special": False}
    except UnicodeDecodeError:  # part of a multi-byte character: show what decodes, and the bytes
        return {"text": raw.decode("utf-8", errors="replace"), "bytes": raw.hex(" "), "special": False}


class _Recorder:
    """Forward hooks that keep what a module received or returned, removed on exit."""

    def __init__(self):
        self.inputs: dict[nn.Module, tuple] = {}
        self.outputs: dict[nn.Module, Tensor] = {}
        self._handles = []

    def keep_input(self, module: nn.Module) -> None:
        def hook(mod, args, kwargs):
            self.inputs[mod] = (args, kwargs)

        self._handles.append(module.register_forward_pre_hook(hook, with_kwargs=True))

    def keep_output(self, module: nn.Module) -> None:
        def hook(mod, args, out):
            self.outputs[mod] = out

        self._handles.append(module.register_forward_hook(hook))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for h in self._handles:
            h.remove()


def _lens(hidden: list[Tensor], final_norm: nn.Module, head: nn.Module, top: int) -> tuple[Tensor, Tensor]:
    """Top ``top`` ids and probabilities (L, T, top) of softmax(head(final_norm(h))) for each layer's output h."""
    ids, probs = [], []
    for h in hidden:  # (1, T, n_embd) each
        p = torch.softmax(head(final_norm(h))[0].float(), dim=-1)  # (T, vocab_size)
        values, index = p.topk(min(top, p.shape[-1]), dim=-1)  # (T, top)
        ids.append(index)
        probs.append(values)
    return torch.stack(ids), torch.stack(probs)  # (L, T, top) each


def _check_top(top) -> None:
    if not isinstance(top, int) or isinstance(top, bool) or top < 1:
        raise ValueError(f"top must be a positive integer (tokens per logit-lens cell), got {top!r}")


@torch.no_grad()
def trace(model: LanguageModel, ids: list[int], top: int = 5) -> dict:
    """One forward pass of a GPT-2 or later-family model over ``ids`` (checked by ``prompt_ids``).

    Returns tensors: ``attention`` (n_layer, n_head, T, T); ``lens_ids`` and ``lens_probs``
    (n_layer, T, top); ``logits`` (vocab_size,) of the last position; ``experts`` (the MoE layers'
    indices, ``chosen`` and ``gates`` (n_moe, T, expert_top_k)) or None."""
    _check_top(top)
    was_training = model.training
    model.eval()
    try:
        with _Recorder() as rec:
            for block in model.blocks:
                rec.keep_input(block.attn)
                rec.keep_output(block)
                if isinstance(block.mlp, MoEFeedForward):
                    rec.keep_input(block.mlp)
            logits, _ = model(torch.tensor([ids], device=model.lm_head.weight.device))  # (1, T, vocab_size)
        attention = [decoder_attention_weights(b.attn, rec.inputs[b.attn][0][0])[0] for b in model.blocks]
        lens_ids, lens_probs = _lens([rec.outputs[b] for b in model.blocks], model.ln_f, model.lm_head, top)
        moe = [(i, b.mlp) for i, b in enumerate(model.blocks) if isinstance(b.mlp, MoEFeedForward)]
        experts = None
        if moe:
            routes = [mlp.route(rec.inputs[mlp][0][0][0]) for _, mlp in moe]  # (probs, gates, chosen) per layer
            experts = {
                "layers": [i for i, _ in moe],
                "n_experts": moe[0][1].n_experts,
                "gates": torch.stack([r[1] for r in routes]),  # (n_moe, T, k)
                "chosen": torch.stack([r[2] for r in routes]),  # (n_moe, T, k)
            }
    finally:
        model.train(was_training)
    return {
        "attention": torch.stack(attention).float().cpu(),  # (L, H, T, T)
        "lens_ids": lens_ids.cpu(),
        "lens_probs": lens_probs.float().cpu(),
        "logits": logits[0, -1].float().cpu(),  # (vocab_size,)
        "experts": experts,
    }


@torch.no_grad()
def trace_seq2seq(model: Transformer, src: list[int], tgt: list[int], top: int = 5) -> dict:
    """One teacher-forced pass of the 2017 encoder-decoder: ``encoder`` (L_enc, H, S, S),
    ``decoder`` (L_dec, H, T, T) self-attention, ``cross`` (L_dec, H, T, S); the logit lens of
    the decoder layers (through decoder_norm and output) and the last target position's logits."""
    _check_top(top)
    was_training = model.training
    model.eval()
    try:
        with _Recorder() as rec:
            for layer in model.encoder_layers:
                rec.keep_input(layer.self_attn)
            for layer in model.decoder_layers:
                rec.keep_input(layer.self_attn)
                rec.keep_input(layer.cross_attn)
                rec.keep_output(layer)
            device = model.output.weight.device
            logits = model(torch.tensor([src], device=device), torch.tensor([tgt], device=device))  # (1, T, V)

        def weights(mha):
            args, kwargs = rec.inputs[mha]
            return multihead_attention_weights(mha, *args, **kwargs)[0]  # (H, T_q, T_k)

        maps = {
            "encoder": torch.stack([weights(layer.self_attn) for layer in model.encoder_layers]),
            "decoder": torch.stack([weights(layer.self_attn) for layer in model.decoder_layers]),
            "cross": torch.stack([weights(layer.cross_attn) for layer in model.decoder_layers]),
        }
        hidden = [rec.outputs[layer] for layer in model.decoder_layers]
        lens_ids, lens_probs = _lens(hidden, model.decoder_norm, model.output, top)
    finally:
        model.train(was_training)
    return {
        **{name: m.float().cpu() for name, m in maps.items()},
        "lens_ids": lens_ids.cpu(),
        "lens_probs": lens_probs.float().cpu(),
        "logits": logits[0, -1].float().cpu(),
        "experts": None,
    }
