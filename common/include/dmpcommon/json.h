/* Streaming JSON writer: emits syntactically valid JSON without building a tree.
 * Commas and nesting are tracked here so callers never hand-assemble separators. */
#ifndef DMP_JSON_H
#define DMP_JSON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define DMP_JSON_MAX_DEPTH 32

struct dmp_json {
    FILE *out;
    int depth;
    bool need_comma[DMP_JSON_MAX_DEPTH];
    bool after_key;
    bool pretty;
    bool error;         /* nesting overflow/underflow: the output is invalid */
    char *mem;          /* dmp_json_init_mem: the buffer behind out */
    size_t memlen;
};

void dmp_json_init(struct dmp_json *j, FILE *out, bool pretty);
/* Write into a growing memory buffer instead of a stream (a test's expected text, a document
 * checked before it is sent): 0, or -ENOMEM. dmp_json_mem_take closes the buffer and hands it
 * over, NUL-terminated, with its length (NULL if the buffer could not be completed); call
 * dmp_json_finish first to learn whether the document is complete. The stream writes through
 * pointers into *j: j must not be copied or moved in between. */
int dmp_json_init_mem(struct dmp_json *j, bool pretty);
char *dmp_json_mem_take(struct dmp_json *j, size_t *len);
void dmp_json_obj_begin(struct dmp_json *j);
void dmp_json_obj_end(struct dmp_json *j);
void dmp_json_arr_begin(struct dmp_json *j);
void dmp_json_arr_end(struct dmp_json *j);
void dmp_json_key(struct dmp_json *j, const char *key);
void dmp_json_str(struct dmp_json *j, const char *s);
void dmp_json_strn(struct dmp_json *j, const char *s, size_t n);
void dmp_json_u64(struct dmp_json *j, uint64_t v);
void dmp_json_i64(struct dmp_json *j, int64_t v);
void dmp_json_double(struct dmp_json *j, double v);
void dmp_json_bool(struct dmp_json *j, bool v);
void dmp_json_null(struct dmp_json *j);
/* Hex string "0x..." for addresses: JSON numbers lose precision above 2^53. */
void dmp_json_hex(struct dmp_json *j, uint64_t v);
/* Lower-case hex bytes without separators, e.g. "e8a1b2c3d4". */
void dmp_json_bytes(struct dmp_json *j, const uint8_t *b, size_t n);
/* Returns 0 when the document is complete and well nested, -EINVAL otherwise. */
int dmp_json_finish(struct dmp_json *j);

/* Convenience: "key": value pairs. */
#define DMP_JSON_KV(j, k, fn, v) do { dmp_json_key((j), (k)); fn((j), (v)); } while (0)


/* Syntax check of untrusted JSON text (from a guest console, a file): 0 if the whole buffer
 * is exactly one JSON value (surrounding whitespace allowed), -EINVAL otherwise. Depth-limited.
 * The reader's grammar (json_read.h), without building anything. */
int dmp_json_validate(const char *s, size_t n);
/* Emit pre-validated JSON text verbatim as a value; refuses (and emits null) if invalid. */
void dmp_json_raw(struct dmp_json *j, const char *s, size_t n);

#endif
