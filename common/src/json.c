#include "dmpcommon/json.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void dmp_json_init(struct dmp_json *j, FILE *out, bool pretty)
{
    j->out = out;
    j->depth = 0;
    j->need_comma[0] = false;
    j->after_key = false;
    j->pretty = pretty;
    j->error = false;
    j->mem = NULL;
    j->memlen = 0;
}

int dmp_json_init_mem(struct dmp_json *j, bool pretty)
{
    dmp_json_init(j, NULL, pretty);
    /* The stream updates j->mem and j->memlen on every flush and at fclose. */
    j->out = open_memstream(&j->mem, &j->memlen);
    return j->out ? 0 : -ENOMEM;
}

char *dmp_json_mem_take(struct dmp_json *j, size_t *len)
{
    bool ok = j->out && fclose(j->out) == 0;
    char *text = ok ? j->mem : NULL;
    if (!ok)
        free(j->mem);
    if (len)
        *len = ok ? j->memlen : 0;
    j->out = NULL;
    j->mem = NULL;
    j->memlen = 0;
    return text;
}

static void indent(struct dmp_json *j)
{
    if (!j->pretty)
        return;
    fputc('\n', j->out);
    for (int i = 0; i < j->depth; i++)
        fputs("  ", j->out);
}

/* Emitted before every value or key: separator and indentation. */
static void prefix(struct dmp_json *j)
{
    if (j->after_key) {
        j->after_key = false;
        return;
    }
    if (j->need_comma[j->depth])
        fputc(',', j->out);
    if (j->depth > 0)
        indent(j);
    j->need_comma[j->depth] = true;
}

static void open(struct dmp_json *j, char c)
{
    prefix(j);
    fputc(c, j->out);
    if (j->depth + 1 >= DMP_JSON_MAX_DEPTH) {
        j->error = true;
        return;
    }
    j->depth++;
    j->need_comma[j->depth] = false;
}

static void close_(struct dmp_json *j, char c)
{
    if (j->depth == 0 || j->after_key) {
        j->error = true;
        return;
    }
    bool had_items = j->need_comma[j->depth];
    j->depth--;
    if (had_items)
        indent(j);
    fputc(c, j->out);
}

void dmp_json_obj_begin(struct dmp_json *j) { open(j, '{'); }
void dmp_json_obj_end(struct dmp_json *j) { close_(j, '}'); }
void dmp_json_arr_begin(struct dmp_json *j) { open(j, '['); }
void dmp_json_arr_end(struct dmp_json *j) { close_(j, ']'); }

static void put_escaped(FILE *out, const char *s, size_t n)
{
    fputc('"', out);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"': fputs("\\\"", out); break;
        case '\\': fputs("\\\\", out); break;
        case '\n': fputs("\\n", out); break;
        case '\r': fputs("\\r", out); break;
        case '\t': fputs("\\t", out); break;
        default:
            if (c < 0x20 || c == 0x7f)
                fprintf(out, "\\u%04x", c);
            else
                fputc(c, out);
        }
    }
    fputc('"', out);
}

void dmp_json_key(struct dmp_json *j, const char *key)
{
    prefix(j);
    put_escaped(j->out, key, strlen(key));
    fputs(j->pretty ? ": " : ":", j->out);
    j->after_key = true;
}

void dmp_json_strn(struct dmp_json *j, const char *s, size_t n)
{
    prefix(j);
    put_escaped(j->out, s, n);
}

void dmp_json_str(struct dmp_json *j, const char *s)
{
    if (!s) {
        dmp_json_null(j);
        return;
    }
    dmp_json_strn(j, s, strlen(s));
}

void dmp_json_u64(struct dmp_json *j, uint64_t v)
{
    prefix(j);
    fprintf(j->out, "%" PRIu64, v);
}

void dmp_json_i64(struct dmp_json *j, int64_t v)
{
    prefix(j);
    fprintf(j->out, "%" PRId64, v);
}

void dmp_json_double(struct dmp_json *j, double v)
{
    prefix(j);
    if (isfinite(v))
        fprintf(j->out, "%.6g", v);
    else
        fputs("null", j->out);     /* JSON has no NaN/Inf */
}

void dmp_json_bool(struct dmp_json *j, bool v)
{
    prefix(j);
    fputs(v ? "true" : "false", j->out);
}

void dmp_json_null(struct dmp_json *j)
{
    prefix(j);
    fputs("null", j->out);
}

void dmp_json_hex(struct dmp_json *j, uint64_t v)
{
    prefix(j);
    fprintf(j->out, "\"0x%" PRIx64 "\"", v);
}

void dmp_json_bytes(struct dmp_json *j, const uint8_t *b, size_t n)
{
    prefix(j);
    fputc('"', j->out);
    for (size_t i = 0; i < n; i++)
        fprintf(j->out, "%02x", b[i]);
    fputc('"', j->out);
}

void dmp_json_raw(struct dmp_json *j, const char *s, size_t n)
{
    if (dmp_json_validate(s, n) != 0) {
        dmp_json_null(j);
        return;
    }
    prefix(j);
    fwrite(s, 1, n, j->out);
}

int dmp_json_finish(struct dmp_json *j)
{
    if (j->pretty)
        fputc('\n', j->out);
    fflush(j->out);
    return (j->error || j->depth != 0 || j->after_key) ? -EINVAL : 0;
}
