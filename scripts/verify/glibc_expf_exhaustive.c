// Checks SwiftNN's vector expf (swiftnn_glibc_expf_f32, the AVX-512 twin of glibcExpf, which the
// tests show equal to the Swift definition bit for bit) against libm's expf over every float.
// On Linux with glibc on a CPU with FMA (the project's machines) it must print "0 differences":
// cross-entropy's losses, and so every training run, keep their bits only then.
//
//     clang -O2 -I Sources/CKernelSupport/include scripts/verify/glibc_expf_exhaustive.c \
//        Sources/CKernelSupport/loss_kernels.c Sources/CKernelSupport/CKernelSupport.c -lm -o /tmp/expf_check
//     /tmp/expf_check                    # about 20 s; needs AVX-512F
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "CKernelSupport.h"

int main(void) {
    enum { block = 1 << 16 };
    static float x[block], y[block];
    uint64_t differences = 0, checked = 0;
    for (uint64_t start = 0; start < (1ULL << 32); start += block) {
        for (uint32_t i = 0; i < block; i++) {
            uint32_t bits = (uint32_t)(start + i);
            memcpy(&x[i], &bits, 4);
        }
        swiftnn_glibc_expf_f32(x, y, block);
        for (uint32_t i = 0; i < block; i++) {
            float want = expf(x[i]);
            checked++;
            if (isnan(want) && isnan(y[i])) continue;
            if (memcmp(&want, &y[i], 4) != 0) {
                if (differences < 8) printf("x = %a: %a, libm %a\n", x[i], y[i], want);
                differences++;
            }
        }
    }
    printf("%llu floats, %llu differences\n", (unsigned long long)checked, (unsigned long long)differences);
    return differences != 0;
}
