"""One line from what was saved to a model you can run: ``model, tokenizer = minillm.load(path)``.

Report §1.2: pre-train once, then use. ``path`` is any directory minillm.models.families reads
(minillm.models.pretrained): a checkpoint ``ckpt-*`` or a run directory written by
``minillm train`` / ``Trainer`` (its newest checkpoint), or a Hugging Face directory of GPT-2, Llama,
Qwen2, Qwen3, Qwen3-MoE or Mixtral weights (minillm.models.hf_gpt2, minillm.models.hf_llama).

The tokenizer is the minillm tokenizer.json saved in the checkpoint (``Trainer`` copies the data
directory's), read by ``minillm.tokenizers.load_tokenizer``. It is None where there is none: a
checkpoint saved without one, and every Hugging Face directory — minillm does not read Hugging
Face tokenizer files (use ``transformers.AutoTokenizer`` for those).
"""

from __future__ import annotations

from pathlib import Path

from minillm.models.families import load_model
from minillm.models.lm import LanguageModel
from minillm.models.pretrained import locate
from minillm.tokenizers import BPETokenizer, CharTokenizer, load_tokenizer

__all__ = ["load"]


def load(path: str | Path) -> tuple[LanguageModel, CharTokenizer | BPETokenizer | None]:
    """``(model, tokenizer)`` from a checkpoint, run or Hugging Face directory; the model is
    on the CPU in eval mode, the tokenizer None where the directory has none (module docstring)."""
    found = locate(path)  # checks the files once; a directory of another kind is a ValueError naming each kind
    model = load_model(found).eval()  # GPT or Llama, as saved
    tokenizer = load_tokenizer(found.tokenizer_file) if found.tokenizer_file is not None else None
    return model, tokenizer
