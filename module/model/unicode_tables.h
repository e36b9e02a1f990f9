/* Character properties and mappings the CLIP tokenizer needs, generated from Python's standard
 * library (unicodedata, html.entities) by tools/gen_unicode_tables.py into unicode_tables.c.
 * All lookups are pure functions over const tables (thread-safe). */
#ifndef DP_UNICODE_TABLES_H
#define DP_UNICODE_TABLES_H

#include <stddef.h>
#include <stdint.h>

/* Most code points str.lower() turns one code point into. */
#define DP_UC_LOWER_MAX 3

int dp_uc_is_letter(uint32_t cp);          /* general category L* (regex \p{L}) */
int dp_uc_is_number(uint32_t cp);          /* general category N* (regex \p{N}) */
int dp_uc_is_space(uint32_t cp);           /* Python str.isspace() */
int dp_uc_is_cased(uint32_t cp);           /* Unicode Cased */
int dp_uc_is_case_ignorable(uint32_t cp);  /* Unicode Case_Ignorable */

/* Python str.lower() of the single code point cp, without the final-sigma context rule (the
 * caller applies it): writes 1..DP_UC_LOWER_MAX code points to out (caller-owned), returns how
 * many. */
int dp_uc_lower(uint32_t cp, uint32_t out[DP_UC_LOWER_MAX]);

/* HTML5 named character reference, as in Python's html.entities.html5: name[0..len) (borrowed,
 * without the '&', with the ';' when the table entry has one). Writes 1 or 2 code points to out
 * (caller-owned) and returns the count, 0 if the name is unknown. */
int dp_html_entity(const char *name, size_t len, uint32_t out[2]);

/* Python html's fix-ups for numeric references: the replacement code point of &#num; when num
 * is in html._invalid_charrefs (e.g. 0x80 -> U+20AC), else -1. */
int32_t dp_html_charref_fixup(uint32_t num);
/* 1 when &#num; expands to nothing (html._invalid_codepoints), else 0. */
int dp_html_charref_dropped(uint32_t num);

#endif
