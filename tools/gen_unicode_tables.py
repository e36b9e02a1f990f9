#!/usr/bin/env python3
"""Generates module/model/unicode_tables.c: the character tables the CLIP tokenizer needs, taken from
this Python's own standard library so the C code behaves like the reference Python code.

Rerun (from the repository root) after changing this script or moving to another Python:
    python3 tools/gen_unicode_tables.py module/model/unicode_tables.c
Needs only the standard library (unicodedata, html). The Unicode version used is written into
the output (dp_uc_unicode_version); the golden data came from the `regex` module and CPython,
so tables of a different Unicode version can only differ on characters added in between.

Tables:
  letter          general category L* (regex \\p{L})
  number          general category N* (regex \\p{N})
  space           str.isspace() (what str.split()/str.strip() treat as whitespace)
  cased           Unicode Cased = Lowercase | Uppercase | Lt (for str.lower()'s final sigma)
  case_ignorable  Unicode Case_Ignorable (for str.lower()'s final sigma)
  lower           str.lower() of one code point (simple mappings, plus the few full mappings
                  that give more than one code point, e.g. U+0130 -> U+0069 U+0307)
  html entities   html.entities.html5 (every name html.unescape() knows), and the numeric
                  reference fix-ups html._invalid_charrefs / html._invalid_codepoints
"""
import html
import html.entities
import sys
import unicodedata

MAX_CP = 0x110000

# Word_Break = MidLetter | MidNumLet | Single_Quote (WordBreakProperty.txt, Unicode 14). These
# are the Case_Ignorable members that no general category gives; Python has no API for them.
WORD_BREAK_MID = [0x0027, 0x002E, 0x003A, 0x00B7, 0x0387, 0x055F, 0x05F4, 0x2018, 0x2019,
                  0x2024, 0x2027, 0xFE13, 0xFE52, 0xFE55, 0xFF07, 0xFF0E, 0xFF1A]


def ranges(pred):
    out, start = [], None
    for cp in range(MAX_CP):
        if pred(cp):
            if start is None:
                start = cp
        elif start is not None:
            out.append((start, cp - 1))
            start = None
    if start is not None:
        out.append((start, MAX_CP - 1))
    return out


def is_cased(cp):
    c = chr(cp)
    return c.islower() or c.isupper() or unicodedata.category(c) == 'Lt'


def is_case_ignorable(cp):
    return (unicodedata.category(chr(cp)) in ('Mn', 'Me', 'Cf', 'Lm', 'Sk')
            or cp in WORD_BREAK_MID)


def emit_ranges(out, name, rs):
    out.append('static const dp_uc_range %s[%d] = {' % (name, len(rs)))
    line = '   '
    for lo, hi in rs:
        item = ' {0x%05X, 0x%05X},' % (lo, hi)
        if len(line) + len(item) > 99:
            out.append(line)
            line = '   '
        line += item
    out.append(line)
    out.append('};')
    out.append('')


def emit_pairs(out, name, pairs):
    out.append('static const dp_uc_pair %s[%d] = {' % (name, len(pairs)))
    line = '   '
    for a, b in pairs:
        item = ' {0x%05X, 0x%05X},' % (a, b)
        if len(line) + len(item) > 99:
            out.append(line)
            line = '   '
        line += item
    out.append(line)
    out.append('};')
    out.append('')


LOOKUPS = r'''
static int in_ranges(const dp_uc_range *r, size_t n, uint32_t cp)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cp < r[mid].lo)
            hi = mid;
        else if (cp > r[mid].hi)
            lo = mid + 1;
        else
            return 1;
    }
    return 0;
}

/* Index of `from` in a table sorted by from, or -1. */
static long find_pair(const dp_uc_pair *p, size_t n, uint32_t from)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (from < p[mid].from)
            hi = mid;
        else if (from > p[mid].from)
            lo = mid + 1;
        else
            return (long)mid;
    }
    return -1;
}

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

const char *dp_uc_unicode_version(void) { return UNICODE_VERSION; }
int dp_uc_is_letter(uint32_t cp) { return in_ranges(letter, COUNT(letter), cp); }
int dp_uc_is_number(uint32_t cp) { return in_ranges(number, COUNT(number), cp); }
int dp_uc_is_space(uint32_t cp) { return in_ranges(space, COUNT(space), cp); }
int dp_uc_is_cased(uint32_t cp) { return in_ranges(cased, COUNT(cased), cp); }
int dp_uc_is_case_ignorable(uint32_t cp)
{
    return in_ranges(case_ignorable, COUNT(case_ignorable), cp);
}

int dp_uc_lower(uint32_t cp, uint32_t out[DP_UC_LOWER_MAX])
{
    for (size_t i = 0; i < COUNT(lower_full); i++) {
        if (lower_full[i].from == cp) {
            int n = 0;
            while (n < DP_UC_LOWER_MAX && lower_full[i].to[n]) {
                out[n] = lower_full[i].to[n];
                n++;
            }
            return n;
        }
    }
    long k = find_pair(lower_simple, COUNT(lower_simple), cp);
    out[0] = k < 0 ? cp : lower_simple[k].to;
    return 1;
}

/* Orders the name key[0..len) against the NUL-terminated table name, like strcmp. */
static int name_cmp(const char *key, size_t len, const char *name)
{
    size_t i = 0;
    for (; i < len && name[i]; i++) {
        if (key[i] != name[i])
            return (unsigned char)key[i] < (unsigned char)name[i] ? -1 : 1;
    }
    if (i < len)
        return 1;
    return name[i] ? -1 : 0;
}

int dp_html_entity(const char *name, size_t len, uint32_t out[2])
{
    size_t lo = 0, hi = COUNT(entities);
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = name_cmp(name, len, entities[mid].name);
        if (c < 0) {
            hi = mid;
        } else if (c > 0) {
            lo = mid + 1;
        } else {
            out[0] = entities[mid].cp[0];
            out[1] = entities[mid].cp[1];
            return out[1] ? 2 : 1;
        }
    }
    return 0;
}

int32_t dp_html_charref_fixup(uint32_t num)
{
    long k = find_pair(charref_fixups, COUNT(charref_fixups), num);
    return k < 0 ? -1 : (int32_t)charref_fixups[k].to;
}

int dp_html_charref_dropped(uint32_t num)
{
    return in_ranges(charref_dropped, COUNT(charref_dropped), num);
}
'''


def main():
    if len(sys.argv) != 2:
        sys.exit('usage: gen_unicode_tables.py OUTPUT.c')
    out = []
    out.append('/* GENERATED by tools/gen_unicode_tables.py -- do not edit; rerun it instead:')
    out.append(' *     python3 tools/gen_unicode_tables.py module/model/unicode_tables.c')
    out.append(' * Source: Python %s, unicodedata (Unicode %s), html.entities.html5. */'
               % (sys.version.split()[0], unicodedata.unidata_version))
    out.append('#include "unicode_tables.h"')
    out.append('#include "model_testing.h"')
    out.append('')
    out.append('#define UNICODE_VERSION "%s"' % unicodedata.unidata_version)
    out.append('')
    out.append('typedef struct dp_uc_range { uint32_t lo, hi; } dp_uc_range;')
    out.append('typedef struct dp_uc_pair { uint32_t from, to; } dp_uc_pair;')
    out.append('')

    emit_ranges(out, 'letter', ranges(lambda cp: unicodedata.category(chr(cp))[0] == 'L'))
    emit_ranges(out, 'number', ranges(lambda cp: unicodedata.category(chr(cp))[0] == 'N'))
    emit_ranges(out, 'space', ranges(lambda cp: chr(cp).isspace()))
    emit_ranges(out, 'cased', ranges(is_cased))
    emit_ranges(out, 'case_ignorable', ranges(is_case_ignorable))

    simple, full = [], []
    for cp in range(MAX_CP):
        low = chr(cp).lower()
        if len(low) == 1 and low != chr(cp):
            simple.append((cp, ord(low)))
        elif len(low) > 1:
            full.append((cp, [ord(c) for c in low]))
    longest = max(len(t) for _, t in full)
    if longest > 3:
        sys.exit('a lower-case mapping longer than DP_UC_LOWER_MAX (3); update the header')
    emit_pairs(out, 'lower_simple', simple)
    out.append('/* str.lower() mappings that yield more than one code point (0-terminated). */')
    out.append('static const struct { uint32_t from, to[DP_UC_LOWER_MAX]; } lower_full[%d] = {'
               % len(full))
    for cp, to in full:
        out.append('    {0x%05X, {%s}},' % (cp, ', '.join('0x%05X' % t for t in to)))
    out.append('};')
    out.append('')

    ents = sorted(html.entities.html5.items())
    for name, val in ents:
        if not name.isascii() or len(val) > 2:
            sys.exit('unexpected html5 entity %r' % name)
    out.append('/* html.entities.html5, sorted by name (byte order). */')
    out.append('static const struct { const char *name; uint32_t cp[2]; } entities[%d] = {'
               % len(ents))
    for name, val in ents:
        cps = [ord(c) for c in val] + [0]
        out.append('    {"%s", {0x%05X, 0x%05X}},' % (name, cps[0], cps[1]))
    out.append('};')
    out.append('')
    emit_pairs(out, 'charref_fixups',
               sorted((k, ord(v)) for k, v in html._invalid_charrefs.items()))
    dropped = set(html._invalid_codepoints)
    emit_ranges(out, 'charref_dropped',
                [r for r in ranges(lambda cp: cp in dropped)])
    out.append(LOOKUPS.lstrip('\n'))

    with open(sys.argv[1], 'w', encoding='ascii') as f:
        f.write('\n'.join(out))


if __name__ == '__main__':
    main()
