/* The code view of a live kernel (dmpintrospect/live.h): dmp-patcher's kimage view with the
 * long alignment padding trimmed off the functions. */
#include "dmpintrospect/live.h"

int dmp_live_codeview(struct dmp_codeview *cv, struct dmp_kimage *ki, struct dmp_ksyms *ks)
{
    return dmp_cv_from_kimage_trimmed(cv, ki, ks, DMP_LIVE_PAD_TRIM);
}
