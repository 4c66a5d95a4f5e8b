/* Test driver for a generated SVE mmt4d micro-kernel.
 *
 * Reads shapes and operands from a binary file, packs them into the mmt4d
 * layout with the run-time N0 = N_V * svcntw(), calls mmt4d_kernel, calls
 * mark() (the instruction-counting plugin records its count there), unpacks
 * with predicated stores and writes the results.
 *
 * Input file:  int64 count, then per shape int64 M, N, K, A (M*K), B (K*N).
 * Output file: per shape C (M*N) of acc_t.
 * The including file defines in_t, acc_t, M0, N_V, K0 and mmt4d_kernel.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

__attribute__((noinline)) void mark(void) { __asm__ volatile("" ::: "memory"); }

static void *xmalloc(size_t bytes) {
    void *p = calloc(bytes + 64, 1);
    if (!p) { fprintf(stderr, "out of memory\n"); exit(3); }
    return p;
}

static void xread(void *dst, size_t bytes, FILE *f) {
    if (fread(dst, 1, bytes, f) != bytes) { fprintf(stderr, "short input\n"); exit(4); }
}

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: kernel IN OUT\n"); return 2; }
    FILE *in = fopen(argv[1], "rb"), *out = fopen(argv[2], "wb");
    if (!in || !out) { fprintf(stderr, "cannot open files\n"); return 2; }
    long count, n0 = N_V * (long)svcntw();
    xread(&count, sizeof count, in);
    for (long s = 0; s < count; s++) {
        long shape[3];
        xread(shape, sizeof shape, in);
        long M = shape[0], N = shape[1], K = shape[2];
        long M1 = (M + M0 - 1) / M0, N1 = (N + n0 - 1) / n0, K1 = (K + K0 - 1) / K0;
        in_t *a = xmalloc(M * K * sizeof(in_t)), *b = xmalloc(K * N * sizeof(in_t));
        xread(a, M * K * sizeof(in_t), in);
        xread(b, K * N * sizeof(in_t), in);
        in_t *lhs = xmalloc(M1 * K1 * M0 * K0 * sizeof(in_t));
        in_t *rhs = xmalloc(N1 * K1 * n0 * K0 * sizeof(in_t));
        acc_t *o4 = xmalloc(M1 * N1 * M0 * n0 * sizeof(acc_t));
        acc_t *c = xmalloc(M * N * sizeof(acc_t));
        for (long i = 0; i < M1 * M0; i++)
            for (long k = 0; k < K1 * K0; k++)
                if (i < M && k < K)
                    lhs[((i / M0 * K1 + k / K0) * M0 + i % M0) * K0 + k % K0] = a[i * K + k];
        for (long j = 0; j < N1 * n0; j++)
            for (long k = 0; k < K1 * K0; k++)
                if (j < N && k < K)
                    rhs[((j / n0 * K1 + k / K0) * n0 + j % n0) * K0 + k % K0] = b[k * N + j];
        mmt4d_kernel(lhs, rhs, o4, M1, N1, K1);
        mark();
        /* Unpack: predicated 32-bit stores cut the N tail of each tile row. */
        long lanes = (long)svcntw();
        for (long i = 0; i < M; i++)
            for (long j = 0; j < N1 * n0; j += lanes) {
                svbool_t pg = svwhilelt_b32_s64(j, N);
                const uint32_t *src = (const uint32_t *)o4
                    + ((i / M0 * N1 + j / n0) * M0 + i % M0) * n0 + j % n0;
                svst1_u32(pg, (uint32_t *)c + i * N + j, svld1_u32(pg, src));
            }
        fwrite(c, sizeof(acc_t), M * N, out);
        free(a); free(b); free(lhs); free(rhs); free(o4); free(c);
    }
    fclose(in);
    return fclose(out) != 0;
}
