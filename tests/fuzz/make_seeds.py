#!/usr/bin/env python3
"""make_seeds.py OUT: seed corpora for the fuzz targets, from the project's files (recipes/,
tests/golden/, models/) and a few hand-made variants, one folder per target under OUT."""
import glob, json, os, random, struct, sys

out = sys.argv[1]
root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

def put(target, name, data):
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), 'wb') as f:
        f.write(data if isinstance(data, bytes) else data.encode('utf-8'))

# recipes: the shipped examples and variants reaching the optional sections
recipes = sorted(glob.glob(os.path.join(root, 'recipes', '*.yaml')))
for p in recipes:
    put('recipe', os.path.basename(p), open(p, 'rb').read())
base = ("recipe_version: 1\nproduct: p\nmodel: {clip: c.safetensors, dapo: d.safetensors, "
        "vocabulary: v.txt.gz}\n")
for i, extra in enumerate([
        "defects: [hole, scratch]\n",
        "precision: f32\ninput_size: 224\ndefects:\n  - {name: hole, pixel_threshold: 1.5}\n  - scratch\n",
        "tiling: {mode: grid, tile: 448, overlap: 64, batch: 2}\ndefects: [dent]\n",
        "roi: {x: 10, y: 20, w: 300, h: 200}\nthresholds: {image: 0.7, pixel: 2.5, min_region_area: 30}\n"
        "threads: 2\ndefects: [\"faulty imprint\", 'Éclat']\n",
        "defects: [a, A]\n", "defects: []\n", "&a [x]\n", "input_size: 1e9\ndefects: [x]\n"]):
    put('recipe', 'variant%d.yaml' % i, base + extra)

# safetensors: the golden files shrunk to their small tensors (real names, dtypes, metadata),
# plus every dtype and the edge shapes
def st_file(tensors, metadata=None):
    header, blob = {}, b''
    if metadata is not None:
        header['__metadata__'] = metadata
    for name, dtype, shape, data in tensors:
        header[name] = {'dtype': dtype, 'shape': shape, 'data_offsets': [len(blob), len(blob) + len(data)]}
        blob += data
    h = json.dumps(header).encode()
    return struct.pack('<Q', len(h)) + h + blob

for g in ['tiny/clip.safetensors', 'tiny/dapo.safetensors', 'tiny/clip_hf.safetensors']:
    p = os.path.join(root, 'tests', 'golden', g)
    if not os.path.exists(p):
        continue
    b = open(p, 'rb').read()
    n = struct.unpack('<Q', b[:8])[0]
    h = json.loads(b[8:8 + n])
    meta = h.pop('__metadata__', None)
    kept = []
    for k, v in h.items():
        a, e = v['data_offsets']
        if e - a <= 1024 and len(kept) < 24:
            kept.append((k, v['dtype'], v['shape'], b[8 + n + a:8 + n + e]))
    put('safetensors', g.replace('/', '_'), st_file(kept, meta))
one = struct.pack('<f', 1.5)
put('safetensors', 'dtypes.safetensors', st_file([
    ('a', 'F32', [2, 2], one * 4), ('b', 'F16', [3], b'\x00\x3c' * 3), ('c', 'BF16', [1, 2], b'\xc0\x3f' * 2),
    ('d', 'I64', [2], b'\x01' + b'\x00' * 15), ('e', 'F32', [], one), ('f', 'F32', [0, 4], b''),
    ('blocks.0.w', 'F32', [1], one), ('blocks.1.w', 'F32', [1], one)], {'format': 'pt', 'heads': '2'}))
put('safetensors', 'nan.safetensors', st_file([('x', 'F32', [2], struct.pack('<2f', float('nan'), 1.0))]))
put('safetensors', 'empty_header.safetensors', struct.pack('<Q', 2) + b'{}')

# tokenizer: defect names of the recipes and text hitting the cleaning rules
names = ['hole', 'scratch', 'faulty imprint', 'discoloration', 'Éclat', 'éclat\u00a0', '&amp; stain',
         '&lt;b&gt;dent&lt;/b&gt;', 'ΣΊΣΥΦΟΣ', 'İstanbul', '\u3000crack\u3000', 'a' * 300,
         '😀 emoji', "it's they're", '123 4567', 'x&#x41;&#65;&notit;', '\xff\xfe bad']
for i, s in enumerate(names):
    put('tokenizer', 'name%d.txt' % i, s.encode('utf-8', 'surrogateescape') if isinstance(s, str) else s)
put('tokenizer', 'invalid_utf8.txt', b'bad \xc3\x28 \xed\xa0\x80 \xf4\x90\x80\x80')

# image views: plausible views (mode 0: small fields) and raw ones, deterministic
rnd = random.Random(10)
for i in range(24):
    mode = rnd.choice([0, 4, 32, 36, 128 + 4, 1, 2, 8, 16, 64])
    put('image_view', 'view%02d.bin' % i, bytes([mode]) + bytes(rnd.randrange(256) for _ in range(48 + 64 * i)))

# image files: the golden inputs small enough for the fuzzer (make_image_seeds.c adds the rest)
for g in ['tiny/inputs/a.png', 'tiny/inputs/c_gray.tif']:
    p = os.path.join(root, 'tests', 'golden', g)
    if os.path.exists(p) and os.path.getsize(p) <= 65536:
        put('imageio', 'golden_' + os.path.basename(g), open(p, 'rb').read())

# JSON: the golden safetensors headers and the syntax corners
for g in ['tiny/clip.safetensors', 'tiny/dapo.safetensors', 'tiny/clip_hf.safetensors']:
    p = os.path.join(root, 'tests', 'golden', g)
    if os.path.exists(p):
        b = open(p, 'rb').read(1 << 20)
        n = struct.unpack('<Q', b[:8])[0]
        if n <= 65536:
            put('json', 'header_' + g.replace('/', '_') + '.json', b[8:8 + n])
for i, s in enumerate(['{"a": [1, -2.5e3, 0.0, true, false, null, "x"]}', '"\\u00e9\\ud83d\\ude00\\n\\t\\"\\\\\\/"',
                       '{"a": {"b": {"c": 1}}, "__metadata__": {"k": "v"}}', '[[[[[[[[]]]]]]]]',
                       '{"a": 1, "a": 2}', '  123456789012345678901234567890 ', '{"x": "\\ud800"}',
                       '[1e400, -0, 1E-400]', '{"k":1,}', '\ufeff{}']):
    put('json', 'syntax%d.json' % i, s)
