#!/usr/bin/env python3
"""Requantise a GGUF model's quantised 2-D tensors to Q8_0 (metadata and other tensors copied).

Used by scripts/install-engine: SmolLM2-135M ships as Q4_1, which prefills ~2.3x slower than
Q8_0 on this CPU. Usage: requantize.py IN.gguf OUT.gguf
"""
import sys
import numpy as np
import gguf
from gguf import GGMLQuantizationType as Q

src, dst = sys.argv[1], sys.argv[2]
reader = gguf.GGUFReader(src)
arch = reader.get_field(gguf.Keys.General.ARCHITECTURE).contents()
writer = gguf.GGUFWriter(dst, arch)
for field in reader.fields.values():
    if field.name == gguf.Keys.General.ARCHITECTURE or field.name.startswith("GGUF."):
        continue
    vtype = field.types[0]
    sub = field.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
    value = field.contents()
    if field.name == gguf.Keys.General.FILE_TYPE:
        value = int(gguf.LlamaFileType.MOSTLY_Q8_0)
    writer.add_key_value(field.name, value, vtype, sub_type=sub)

requantisable = {Q.Q4_0, Q.Q4_1, Q.Q5_0, Q.Q5_1, Q.Q4_K, Q.Q5_K, Q.Q6_K, Q.F16, Q.BF16}
for t in reader.tensors:
    if t.tensor_type in requantisable and len(t.shape) == 2:
        full = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32)
        q = gguf.quants.quantize(full, Q.Q8_0)
        writer.add_tensor(t.name, q, raw_dtype=Q.Q8_0)
    else:
        writer.add_tensor(t.name, t.data, raw_dtype=t.tensor_type)
writer.write_header_to_file()
writer.write_kv_data_to_file()
writer.write_tensors_to_file()
writer.close()
