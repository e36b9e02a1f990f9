/* Text escaping shared by the reports the calibration and training commands write. */
#ifndef CALIB_REPORT_TEXT_H
#define CALIB_REPORT_TEXT_H

#include <stdio.h>

/* s (borrowed, NULL = empty) as a JSON string literal, quotes included. */
void rx_json_string(FILE *f, const char *s);

/* s (borrowed, NULL = empty) with <, >, & and " escaped: safe in HTML text and attributes. */
void rx_html_text(FILE *f, const char *s);

#endif
