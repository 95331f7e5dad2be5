#include "dmpxen/perfc.h"
#include "dmpcommon/test.h"

#include <errno.h>
#include <stdlib.h>

int main(void)
{
    /* Two CPUs: "page faults" is a scalar (2 values), "vmexits" an array of 4 here. */
    /* A gauge ("in use") goes up on one CPU and down on the other: net -1, not 2^32-1. */
    const char names[3][80] = { "page faults", "vmexits", "in use" };
    const uint32_t nr[3] = { 2, 4, 2 };
    const uint32_t v1[8] = { 10, 0xfffffff0u, 0, 1, 0, 5, 7, 3 };
    const uint32_t v2[8] = { 15, 0x00000010u, 0, 4, 0, 5, 8, 1 };
    struct dmp_perfc_snapshot a, b;
    CHECK(dmp_perfc_from_raw(&a, 3, names, nr, v1, 2) == 0);
    CHECK(dmp_perfc_from_raw(&b, 3, names, nr, v2, 2) == 0);
    CHECK(dmp_perfc_delta(&a, &b, "in use") == -1);
    CHECK(!a.c[0].is_array && a.c[1].is_array);
    CHECK_EQ_U64(dmp_perfc_delta(&a, &b, "page faults"), 5 + 0x20);   /* wrap handled */
    CHECK_EQ_U64(dmp_perfc_delta(&a, &b, "vmexits"), 3);
    CHECK_EQ_U64(dmp_perfc_delta_at(&a, &b, "vmexits", 1), 3);
    CHECK_EQ_U64(dmp_perfc_delta_at(&a, &b, "vmexits", 9), 0);
    CHECK_EQ_U64(dmp_perfc_delta(&a, &b, "nonexistent"), 0);

    struct dmp_json j;
    CHECK(dmp_json_init_mem(&j, false) == 0);
    CHECK(dmp_perfc_delta_json(&a, &b, &j) == 0);
    CHECK(dmp_json_finish(&j) == 0);
    char *mem = dmp_json_mem_take(&j, NULL);
    CHECK_STREQ(mem, "{\"page faults\":37,\"vmexits\":{\"total\":3,\"by_index\":{\"0x1\":3}},\"in use\":-1}");
    CHECK(dmp_json_validate(mem, strlen(mem)) == 0);
    free(mem);
    CHECK_STREQ(dmp_vmexit_name(DMP_HVM_SVM, 0x4e), "EXCP_PF");
    CHECK(dmp_vmexit_name(DMP_HVM_SVM, 0x2) == NULL);
    CHECK_STREQ(dmp_vmexit_name(DMP_HVM_VMX, 0), "EXCEPTION_NMI");
    CHECK_STREQ(dmp_vmexit_name(DMP_HVM_VMX, 28), "CR_ACCESS");
    CHECK(dmp_vmexit_name(DMP_HVM_UNKNOWN, 0) == NULL);
    CHECK_STREQ(dmp_hvm_vendor_name(DMP_HVM_VMX), "vmx");

    /* The same kinds of exit are counted where each vendor counts them. */
    {
        const char xn[2][80] = { "vmexits", "cause vector" };
        const uint32_t xnr[2] = { 0x90, 32 };
        uint32_t x1[0x90 + 32] = { 0 }, x2[0x90 + 32] = { 0 };
        x2[0x4e] = 7;           /* SVM: #PF exits; VMX: would be exit reason 78 */
        x2[0x13] = 3;           /* SVM: CR3 writes */
        x2[0x79] = 2;           /* SVM: INVLPG */
        x2[0] = 9;              /* VMX: exceptions and NMIs, of which ... */
        x2[0x90 + 14] = 8;      /* ... 8 #PF by vector */
        x2[28] = 5;             /* VMX: control-register accesses */
        x2[14] = 4;             /* VMX: INVLPG */
        struct dmp_perfc_snapshot s1, s2;
        CHECK(dmp_perfc_from_raw(&s1, 2, xn, xnr, x1, 2) == 0);
        CHECK(dmp_perfc_from_raw(&s2, 2, xn, xnr, x2, 2) == 0);
        CHECK_EQ_U64(dmp_perfc_exits(&s1, &s2, DMP_EXIT_PF), 0);   /* vendor unknown */
        s1.vendor = s2.vendor = DMP_HVM_SVM;
        CHECK_EQ_U64(dmp_perfc_exits(&s1, &s2, DMP_EXIT_PF), 7);
        CHECK_EQ_U64(dmp_perfc_exits(&s1, &s2, DMP_EXIT_CR3_WRITE), 3);
        CHECK_EQ_U64(dmp_perfc_exits(&s1, &s2, DMP_EXIT_INVLPG), 2);
        s1.vendor = s2.vendor = DMP_HVM_VMX;
        CHECK_EQ_U64(dmp_perfc_exits(&s1, &s2, DMP_EXIT_PF), 8);
        CHECK_EQ_U64(dmp_perfc_exits(&s1, &s2, DMP_EXIT_CR3_WRITE), 5);
        CHECK_EQ_U64(dmp_perfc_exits(&s1, &s2, DMP_EXIT_INVLPG), 4);
        CHECK(dmp_json_init_mem(&j, false) == 0);
        CHECK(dmp_perfc_delta_json(&s1, &s2, &j) == 0);
        CHECK(dmp_json_finish(&j) == 0);
        mem = dmp_json_mem_take(&j, NULL);
        CHECK(strstr(mem, "\"0x1c:CR_ACCESS\":5") != NULL);
        free(mem);
        dmp_perfc_free(&s1);
        dmp_perfc_free(&s2);
    }

    /* Snapshots of different layouts are refused, not silently mis-subtracted. */
    struct dmp_perfc_snapshot c;
    CHECK(dmp_perfc_from_raw(&c, 1, names, nr, v1, 2) == 0);
    CHECK(dmp_json_init_mem(&j, false) == 0);
    CHECK(dmp_perfc_delta_json(&a, &c, &j) == -EINVAL);
    free(dmp_json_mem_take(&j, NULL));
    dmp_perfc_free(&a);
    dmp_perfc_free(&b);
    dmp_perfc_free(&c);
    return DMP_TEST_SUMMARY("perfc");
}
