#!/usr/bin/env python3
"""Write a llama-architecture GGUF with random weights (Q8_0), sharing another model's tokenizer.

The "large" model for latency work on a CPU-only machine: ~1.07B parameters (Llama-3.2-1B shape:
16 layers, d=2048, 32 heads, 8 KV heads, FFN 8192), weights N(0, 0.02^2), norms 1. Its text is
gibberish; generate with ignore_eos and fixed lengths. Deterministic (seeded).

Usage: random_llama.py --tokenizer-from SMALL.gguf OUT.gguf [--layers 16 --dim 2048 ...]
"""
import argparse
import numpy as np
import gguf
from gguf import GGMLQuantizationType as Q

p = argparse.ArgumentParser()
p.add_argument("out")
p.add_argument("--tokenizer-from", required=True)
p.add_argument("--layers", type=int, default=16)
p.add_argument("--dim", type=int, default=2048)
p.add_argument("--heads", type=int, default=32)
p.add_argument("--kv-heads", type=int, default=8)
p.add_argument("--ffn", type=int, default=8192)
p.add_argument("--context", type=int, default=8192)
p.add_argument("--seed", type=int, default=1234)
a = p.parse_args()

tok = gguf.GGUFReader(a.tokenizer_from)
w = gguf.GGUFWriter(a.out, "llama")
w.add_name("handoff-random-llama-1b")
w.add_context_length(a.context)
w.add_embedding_length(a.dim)
w.add_block_count(a.layers)
w.add_feed_forward_length(a.ffn)
w.add_head_count(a.heads)
w.add_head_count_kv(a.kv_heads)
w.add_rope_dimension_count(a.dim // a.heads)
w.add_rope_freq_base(500000.0)
w.add_layer_norm_rms_eps(1e-5)
w.add_file_type(int(gguf.LlamaFileType.MOSTLY_Q8_0))
vocab = None
for field in tok.fields.values():
    if not field.name.startswith("tokenizer."):
        continue
    vtype = field.types[0]
    sub = field.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
    w.add_key_value(field.name, field.contents(), vtype, sub_type=sub)
    if field.name == "tokenizer.ggml.tokens":
        vocab = len(field.data)
w.add_vocab_size(vocab)

rng = np.random.default_rng(a.seed)
def mat(rows, cols):
    return gguf.quants.quantize((rng.standard_normal((rows, cols), dtype=np.float32) * 0.02), Q.Q8_0)
def ones(n):
    return np.ones(n, dtype=np.float32)

hd = a.dim // a.heads
w.add_tensor("token_embd.weight", mat(vocab, a.dim), raw_dtype=Q.Q8_0)
w.add_tensor("output_norm.weight", ones(a.dim))
for i in range(a.layers):
    b = f"blk.{i}."
    w.add_tensor(b + "attn_norm.weight", ones(a.dim))
    w.add_tensor(b + "attn_q.weight", mat(a.dim, a.dim), raw_dtype=Q.Q8_0)
    w.add_tensor(b + "attn_k.weight", mat(a.kv_heads * hd, a.dim), raw_dtype=Q.Q8_0)
    w.add_tensor(b + "attn_v.weight", mat(a.kv_heads * hd, a.dim), raw_dtype=Q.Q8_0)
    w.add_tensor(b + "attn_output.weight", mat(a.dim, a.dim), raw_dtype=Q.Q8_0)
    w.add_tensor(b + "ffn_norm.weight", ones(a.dim))
    w.add_tensor(b + "ffn_gate.weight", mat(a.ffn, a.dim), raw_dtype=Q.Q8_0)
    w.add_tensor(b + "ffn_up.weight", mat(a.ffn, a.dim), raw_dtype=Q.Q8_0)
    w.add_tensor(b + "ffn_down.weight", mat(a.dim, a.ffn), raw_dtype=Q.Q8_0)
w.write_header_to_file()
w.write_kv_data_to_file()
w.write_tensors_to_file()
w.close()
