"""Adapting a trained model: LoRA adapters for cheap fine-tuning (``lora``) and int8 / int4 weights for
on-device inference (``quantize``). Both come after pre-training.

Docs: docs/adaptation.md.
"""

from minillm.adapt.lora import LoRALinear, apply_lora, load_lora, lora_state_dict, merge_lora, save_lora
from minillm.adapt.quantize import Int4Linear, Int8Linear, quantize_int4, quantize_int8, weight_bytes

__all__ = [
    "Int4Linear",
    "Int8Linear",
    "LoRALinear",
    "apply_lora",
    "load_lora",
    "lora_state_dict",
    "merge_lora",
    "quantize_int4",
    "quantize_int8",
    "save_lora",
    "weight_bytes",
]
