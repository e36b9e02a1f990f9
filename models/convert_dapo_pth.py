#!/usr/bin/env python3
"""Convert a DAPO checkpoint written by torch.save (epoch_*.pth) into dapo.safetensors.

Usage: python3 models/convert_dapo_pth.py IN.pth OUT.safetensors

Needs neither PyTorch nor numpy. The checkpoint's pickle is read by a restricted unpickler that
only knows the handful of classes a tensor state dict needs (tensor rebuild, storage types,
OrderedDict, numpy scalars for logged losses); any other global is refused before anything is
called, so a malicious file cannot run code. Output: every tensor of the three DAPO state dicts as
float32, named `<top>.<key>` (visual_prompt, prompt_learner, linear_adapter), in the order of
tests/golden/README.md §9, with the same metadata as the reference files.

Exit codes: 0 ok, 1 bad input (message on stderr), 2 usage.
"""

import io
import json
import math
import os
import pickle
import struct
import sys
import tempfile
import zipfile
from collections import OrderedDict


class ConvertError(Exception):
    """A problem with the input file, reported to the user without a traceback."""


# Storage class name -> (element size, struct code, how to turn one element into float32 bytes).
# Only the float types can hold DAPO tensors; the others may appear in optimizer state and are
# accepted so that such checkpoints load, but they are never written.
STORAGE_TYPES = {
    "FloatStorage": (4, "f", "F32"),
    "HalfStorage": (2, "e", "F16"),
    "BFloat16Storage": (2, "H", "BF16"),
    "DoubleStorage": (8, "d", "F64"),
    "LongStorage": (8, "q", None),
    "IntStorage": (4, "i", None),
    "ShortStorage": (2, "h", None),
    "CharStorage": (1, "b", None),
    "ByteStorage": (1, "B", None),
    "BoolStorage": (1, "?", None),
}

TOPS_TRAIN = ("visual_prompt", "prompt_learner", "linear_adapter")
TOPS_TEST = {
    "visual_prompt_state_dict": "visual_prompt",
    "prompt_learner_state_dict": "prompt_learner",
    "trainable_adapter_state_dict": "linear_adapter",
}
# Tensors the inference needs; meta_net and anything else present is carried along.
REQUIRED = (
    ["visual_prompt.learnable_visual_tokens",
     "prompt_learner.learnable_normal_tokens",
     "prompt_learner.learnable_abnormal_tokens"]
    + ["linear_adapter.fc.%d.%s" % (j, w) for j in range(4) for w in ("weight", "bias")]
)
FEATURE_LAYERS = [6, 12, 18, 24]  # fixed in the reference code (adapter j <-> block 6(j+1))


class StorageType:
    """Marker for torch.<X>Storage: only its name is ever used."""

    def __init__(self, name):
        self.name = name


class Storage:
    """One raw storage record of the zip (<prefix>/data/<key>), decoded lazily."""

    def __init__(self, stype, key, numel, raw):
        self.stype = stype
        self.key = key
        self.numel = numel
        self.raw = raw


class Tensor:
    """What _rebuild_tensor_v2 describes: a strided view into a storage."""

    def __init__(self, storage, offset, size, stride):
        self.storage = storage
        self.offset = offset
        self.size = tuple(size)
        self.stride = tuple(stride)


class NpDtype:
    """Inert stand-in for numpy.dtype (only to unpickle numpy scalars such as a logged loss)."""

    def __init__(self, name="f8", *_args):
        self.name = str(name)
        self.byteorder = "<"

    def __setstate__(self, state):
        if isinstance(state, tuple) and len(state) > 1 and state[1] in ("<", ">", "|", "="):
            self.byteorder = state[1]


def np_scalar(dtype, data=b""):
    """numpy.core.multiarray.scalar stand-in: decodes plain numeric scalars, never calls numpy."""
    codes = {"f8": "d", "f4": "f", "i8": "q", "i4": "i", "u8": "Q", "u4": "I", "b1": "?"}
    code = codes.get(getattr(dtype, "name", ""))
    if code and isinstance(data, bytes) and len(data) == struct.calcsize(code):
        order = ">" if getattr(dtype, "byteorder", "<") == ">" else "<"
        return struct.unpack(order + code, data)[0]
    return None


def codecs_encode(text, encoding="utf-8"):
    """_codecs.encode as protocol-2 pickles use it to carry bytes (numpy scalar payloads)."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise ConvertError("unexpected _codecs.encode call in checkpoint")
    return text.encode("latin-1")


def rebuild_tensor_v2(storage, offset, size, stride, *_rest):
    if not isinstance(storage, Storage):
        raise ConvertError("tensor without a storage record")
    return Tensor(storage, offset, size, stride)


def rebuild_parameter(data, *_rest):
    return data


def rebuild_from_type_v2(func, _new_type, args, _state):
    # func is itself resolved through find_class, so it can only be one of ours.
    if func not in (rebuild_tensor_v2, rebuild_parameter):
        raise ConvertError("unsupported tensor rebuild function in checkpoint")
    return func(*args)


class TensorSubclassMarker:
    """torch.Tensor / torch.nn.Parameter as a type argument; never instantiated."""


# (module, name) -> object; nothing outside this table is ever resolved.
SAFE_GLOBALS = {
    ("torch._utils", "_rebuild_tensor_v2"): rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): rebuild_parameter,
    ("torch._tensor", "_rebuild_from_type_v2"): rebuild_from_type_v2,
    ("torch", "Tensor"): TensorSubclassMarker,
    ("torch.nn.parameter", "Parameter"): TensorSubclassMarker,
    ("collections", "OrderedDict"): OrderedDict,
    ("numpy.core.multiarray", "scalar"): np_scalar,
    ("numpy._core.multiarray", "scalar"): np_scalar,
    ("numpy", "dtype"): NpDtype,
    ("_codecs", "encode"): codecs_encode,
}
for _name in STORAGE_TYPES:
    SAFE_GLOBALS[("torch", _name)] = StorageType(_name)


class RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, data, zf, prefix, byteorder):
        super().__init__(io.BytesIO(data))
        self.zf = zf
        self.prefix = prefix
        self.byteorder = byteorder
        self.storages = {}

    def find_class(self, module, name):
        obj = SAFE_GLOBALS.get((module, name))
        if obj is None:
            raise ConvertError(
                "refusing to load: the checkpoint's pickle references %s.%s, which a DAPO "
                "checkpoint never contains (only tensors, OrderedDict and numbers are allowed)"
                % (module, name))
        return obj

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise ConvertError("unsupported persistent id in checkpoint: %r" % (pid,))
        _, stype, key, _location, numel = pid
        if not isinstance(stype, StorageType):
            raise ConvertError("storage of unsupported type in checkpoint")
        key = str(key)
        if key in self.storages:  # views of one storage share it
            return self.storages[key]
        name = "%s/data/%s" % (self.prefix, key)
        try:
            raw = self.zf.read(name)
        except KeyError:
            raise ConvertError("storage record %s missing from the archive" % name) from None
        size, _code, _ = STORAGE_TYPES[stype.name]
        if len(raw) < numel * size:
            raise ConvertError("storage record %s is truncated (%d bytes, need %d)"
                               % (name, len(raw), numel * size))
        st = Storage(stype.name, key, numel, raw)
        self.storages[key] = st
        return st


def find_prefix(zf):
    """The archive's top folder: the one holding data.pkl (file stem, or 'archive' in 2.x)."""
    pkls = [n for n in zf.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
    if not pkls:
        if "data.pkl" in zf.namelist():
            return ""
        raise ConvertError("no data.pkl in the archive: not a torch.save checkpoint")
    if len(pkls) > 1:
        raise ConvertError("several data.pkl records in the archive: %s" % ", ".join(pkls))
    return pkls[0][: -len("/data.pkl")]


def read_checkpoint(path):
    if not os.path.isfile(path):
        raise ConvertError("no such file")
    if not zipfile.is_zipfile(path):
        with open(path, "rb") as f:
            head = f.read(2)
        hint = (" (it looks like the legacy pre-1.6 torch.save format; re-save it with "
                "torch >= 1.6)" if head[:1] == b"\x80" else "")
        raise ConvertError("not a zip archive, so not a torch.save checkpoint%s" % hint)
    zf = zipfile.ZipFile(path)
    prefix = find_prefix(zf)
    rec = (prefix + "/") if prefix else ""
    byteorder = "little"
    if rec + "byteorder" in zf.namelist():  # written by PyTorch >= 2.1
        byteorder = zf.read(rec + "byteorder").decode("ascii", "replace").strip()
        if byteorder not in ("little", "big"):
            raise ConvertError("unknown byteorder record %r" % byteorder)
    data = zf.read(rec + "data.pkl")
    try:
        obj = RestrictedUnpickler(data, zf, prefix, byteorder).load()
    except ConvertError:
        raise
    except (pickle.UnpicklingError, EOFError, TypeError, ValueError, AttributeError,
            IndexError, KeyError, struct.error) as e:
        raise ConvertError("data.pkl is not a valid checkpoint pickle: %s" % e) from None
    return obj, byteorder


def tensor_to_f32(t, byteorder, name):
    """Row-major float32 little-endian bytes of a strided tensor view."""
    size, code, kind = STORAGE_TYPES[t.storage.stype]
    if kind is None:
        raise ConvertError("%s: %s is not a floating-point tensor" % (name, t.storage.stype))
    numel = 1
    for d in t.size:
        if d < 0:
            raise ConvertError("%s: negative dimension" % name)
        numel *= d
    if len(t.stride) != len(t.size):
        raise ConvertError("%s: stride and size disagree" % name)
    # Bounds: the largest element index the view touches must lie in the storage.
    if numel:
        last = t.offset + sum((d - 1) * s for d, s in zip(t.size, t.stride))
        first = t.offset + sum((d - 1) * s for d, s in zip(t.size, t.stride) if s < 0)
        if first < 0 or last >= t.storage.numel:
            raise ConvertError("%s: view lies outside its storage" % name)
    order = ">" if byteorder == "big" else "<"
    contiguous = True
    expect = 1
    for d, s in reversed(list(zip(t.size, t.stride))):
        if d != 1 and s != expect:
            contiguous = False
            break
        expect *= d
    raw = t.storage.raw
    if contiguous:
        chunk = raw[t.offset * size:(t.offset + numel) * size]
        if kind == "F32" and order == "<":
            return bytes(chunk)  # already what safetensors stores
        values = struct.unpack("%s%d%s" % (order, numel, code), chunk) if numel else ()
    else:
        allv = struct.unpack("%s%d%s" % (order, t.storage.numel, code),
                             raw[: t.storage.numel * size])
        idx = [t.offset]
        for d, s in zip(t.size, t.stride):
            idx = [i + k * s for i in idx for k in range(d)]
        values = [allv[i] for i in idx]
    if kind == "BF16":
        return struct.pack("<%dI" % numel, *[v << 16 for v in values])
    if kind == "F64":
        for v in values:
            if math.isfinite(v) and abs(v) > 3.4028234663852886e38:
                raise ConvertError("%s: float64 value %g does not fit float32" % (name, v))
    return struct.pack("<%df" % numel, *values)  # F16 and F64 (rounded), big-endian F32


def collect(obj, byteorder):
    """Flattened float32 tensors of the three DAPO state dicts, in tests/golden/README.md §9 order."""
    if not isinstance(obj, dict):
        raise ConvertError("the checkpoint is not a dictionary")
    groups = {}
    for top in TOPS_TRAIN:
        if top in obj:
            groups[top] = obj[top]
    for test_top, top in TOPS_TEST.items():
        if test_top in obj and top not in groups:
            groups[top] = obj[test_top]
    missing = [t for t in TOPS_TRAIN if t not in groups]
    if missing:
        keys = ", ".join(sorted(str(k) for k in obj.keys()))
        raise ConvertError(
            "missing DAPO state dicts %s (top-level keys found: %s); expected %s or %s"
            % (", ".join(missing), keys or "none", "/".join(TOPS_TRAIN), "/".join(TOPS_TEST)))
    out = OrderedDict()
    for top in TOPS_TRAIN:
        sd = groups[top]
        if not isinstance(sd, dict):
            raise ConvertError("%s is not a state dict" % top)
        for key, val in sd.items():
            if not isinstance(val, Tensor):
                continue  # scalars and bookkeeping entries are not weights
            name = "%s.%s" % (top, key)
            if STORAGE_TYPES[val.storage.stype][2] is None and name not in REQUIRED:
                # e.g. an integer buffer: not a DAPO weight, and safetensors F32 cannot hold it
                sys.stderr.write("convert_dapo_pth: skipping non-float tensor %s (%s)\n"
                                 % (name, val.storage.stype))
                continue
            out[name] = (list(val.size), tensor_to_f32(val, byteorder, name))
    absent = [n for n in REQUIRED if n not in out]
    if not any(n.startswith("prompt_learner.learnable_layer_tokens.") for n in out):
        absent.append("prompt_learner.learnable_layer_tokens.*")
    if absent:
        raise ConvertError("checkpoint lacks required DAPO tensors: %s" % ", ".join(absent))
    return out


def hyper_parameters(tensors):
    """The DAPO constants, read from the shapes (same record as the reference files)."""
    vis = tensors["visual_prompt.learnable_visual_tokens"][0]
    normal = tensors["prompt_learner.learnable_normal_tokens"][0]
    abnormal = tensors["prompt_learner.learnable_abnormal_tokens"][0]
    layers = [n for n in tensors if n.startswith("prompt_learner.learnable_layer_tokens.")]
    first = tensors[layers[0]][0]
    if len(vis) != 3 or len(normal) != 3 or len(abnormal) != 3 or len(first) != 2:
        raise ConvertError("DAPO prompt tensors have unexpected ranks")
    return {
        "abnormal_token_cnt": abnormal[1], "depth": vis[0], "feature_layers": FEATURE_LAYERS,
        "layer_token_cnt": first[0], "normal_token_cnt": normal[1],
        "prefix_token_cnt": vis[1], "prompt_count": normal[0], "text_depth": len(layers),
    }


def write_safetensors(path, tensors):
    header = OrderedDict()
    pos = 0
    for name, (shape, data) in tensors.items():
        header[name] = OrderedDict([("dtype", "F32"), ("shape", shape),
                                    ("data_offsets", [pos, pos + len(data)])])
        pos += len(data)
    header["__metadata__"] = OrderedDict([
        ("format", "pt"),
        ("hyper_parameters", json.dumps(hyper_parameters(tensors), sort_keys=True)),
    ])
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    # Write next to the target and rename, so a failure never leaves a half-written file.
    fd, tmp = tempfile.mkstemp(prefix=".convert_dapo_", dir=os.path.dirname(path) or ".")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(struct.pack("<Q", len(text)))
            f.write(text)
            for _shape, data in tensors.values():
                f.write(data)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def main(argv):
    if len(argv) != 3 or argv[1] in ("-h", "--help"):
        sys.stderr.write("usage: %s IN.pth OUT.safetensors\n"
                         "Converts a DAPO torch.save checkpoint (train or test layout) to "
                         "float32 safetensors without PyTorch.\n" % os.path.basename(argv[0]))
        return 2
    src, dst = argv[1], argv[2]
    try:
        obj, byteorder = read_checkpoint(src)
        tensors = collect(obj, byteorder)
        write_safetensors(dst, tensors)
    except ConvertError as e:
        sys.stderr.write("convert_dapo_pth: %s: %s\n" % (src, e))
        return 1
    except (OSError, zipfile.BadZipFile) as e:
        sys.stderr.write("convert_dapo_pth: %s\n" % e)
        return 1
    total = sum(len(d) for _s, d in tensors.values()) // 4
    sys.stdout.write("%s: %d tensors, %d float32 values -> %s\n"
                     % (src, len(tensors), total, dst))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
