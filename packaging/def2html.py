#!/usr/bin/env python3
"""Operator reference (HTML) from a HALCON DEF file: one section per operator with its
signature, short description, abstract, attention note and a parameter table."""
import html
import re
import sys


def parse(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    ops = []
    for block in re.split(r"\n(?=[A-Za-z_]\w*\s*<-)", text):
        m = re.match(r"\s*(\w+)\s*<-\s*(\w+)\[([^\]]*)\];", block)
        if not m:
            continue
        name, proc, sig = m.groups()
        rest = block[m.end():]
        parts = rest.split("\nparameter")
        slots = dict(re.findall(r"^([\w.]+):\s*(.*?);\s*$", parts[0], flags=re.S | re.M))
        params = []
        for p in parts[1:]:
            pm = re.match(r"\s*(\w+):\s*(\w+);", p)
            ps = dict(re.findall(r"^\s+([\w.]+):\s*(.*?);\s*$", p[pm.end():], flags=re.S | re.M))
            params.append((pm.group(1), pm.group(2), ps))
        ops.append((name, proc, sig, slots, params))
    return ops


def clean(s):
    return html.escape(" ".join(s.split()))


def main(src, dst, package):
    ops = parse(open(src, encoding="utf-8").read())
    out = ["<!DOCTYPE html><html><head><meta charset='utf-8'>",
           f"<title>{package} operator reference</title>",
           "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}"
           "code{background:#eee}table{border-collapse:collapse}"
           "td,th{border:1px solid #aaa;padding:.3em;vertical-align:top}</style></head><body>",
           f"<h1>HALCON extension package <code>{package}</code></h1><ul>"]
    out += [f"<li><a href='#{o[0]}'>{o[0]}</a> &mdash; {clean(o[3].get('short.english', ''))}</li>"
            for o in ops]
    out.append("</ul>")
    for name, proc, sig, slots, params in ops:
        classes = [c.split(",") if c else [] for c in sig.split(":")]
        shown = " : ".join(", ".join(c) for c in classes)
        out.append(f"<h2 id='{name}'>{name}</h2><p><code>{name}({html.escape(shown)})</code>"
                   f" &mdash; supply procedure <code>{proc}</code></p>")
        out.append(f"<p><b>{clean(slots.get('short.english', ''))}</b></p>")
        out.append(f"<p>{clean(slots.get('abstract.english', ''))}</p>")
        if "attention.english" in slots:
            out.append(f"<p><b>Attention:</b> {clean(slots['attention.english'])}</p>")
        out.append("<table><tr><th>parameter</th><th>class</th><th>semantic type</th>"
                   "<th>types</th><th>multivalue</th><th>description</th></tr>")
        for pname, pclass, ps in params:
            values = f"<br>values: {clean(ps['values'])}" if "values" in ps else ""
            out.append(f"<tr><td><code>{pname}</code></td><td>{pclass}</td>"
                       f"<td>{clean(ps.get('sem_type', ''))}</td>"
                       f"<td>{clean(ps.get('type_list', ''))}</td>"
                       f"<td>{clean(ps.get('multivalue', ''))}</td>"
                       f"<td>{clean(ps.get('description.english', ''))}{values}</td></tr>")
        out.append("</table>")
        if "see_also" in slots:
            out.append(f"<p>See also: {clean(slots['see_also'])}</p>")
    out.append("</body></html>")
    open(dst, "w", encoding="utf-8").write("\n".join(out) + "\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else "dapoinspect")
