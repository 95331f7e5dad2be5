/* libFuzzer target for the JSON reader (common/src/json_read.c): any input must parse or be
 * refused without a sanitizer finding, the reader must agree with dmp_json_validate, every
 * accessor must behave on the tree, and the writer must write it back to the same tree (the
 * checks of common/tests/json_walk.h, which the unit test runs on mutated seeds).
 * make fuzz-json-run FUZZ_SECONDS=<n> runs it from common/fuzz/seeds. */
#include <stdint.h>
#include <stdlib.h>

#define JW_ASSERT(c) do { if (!(c)) abort(); } while (0)
#include "../tests/json_walk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    jw_check_input((const char *)data, size);
    return 0;
}
