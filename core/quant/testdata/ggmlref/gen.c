// gen writes ../ggml_reference.bin: deterministic inputs and what ggml makes
// of them, for core/quant's tests of the K-quants (which no GGUF fixture
// holds) and of the activation quantizers. See README.md.
//
// Every record: u32 name length, name, u64 byte length, bytes (float32
// arrays little-endian). Names:
//   input/<case>              float32 values (a multiple of 256)
//   <type>/<case>             ggml_quantize_chunk(type, input, 1 row, no imatrix)
//   <type>_to_float/<case>    ggml_get_type_traits(type)->to_float of those bytes
//   q8_0_act/<case>           ggml-cpu quantize_row_q8_0 (the x86 AVX2 path)
//   q8_k/<case>               ggml-cpu quantize_row_q8_K (block_q8_K bytes)
//   random/<type>             random blocks with finite fp16 scales
//   random_to_float/<type>    to_float of them
#include <dlfcn.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ggml.h"

static FILE *out;

static void record(const char *name, const void *data, uint64_t n) {
    uint32_t len = (uint32_t)strlen(name);
    fwrite(&len, 4, 1, out);
    fwrite(name, 1, len, out);
    fwrite(&n, 8, 1, out);
    fwrite(data, 1, n, out);
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t next64(void) { // splitmix64
    uint64_t z = (rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static double uniform(void) { return (double)(next64() >> 11) * 0x1p-53; }
static double normal(void) {
    double u = uniform(), v = uniform();
    return sqrt(-2 * log(u + 0x1p-60)) * cos(2 * M_PI * v);
}

typedef void (*row_fn)(const float *x, void *y, int64_t k);
static row_fn cpu_q8_0, cpu_q8_K;

static const enum ggml_type types[] = {GGML_TYPE_Q4_K, GGML_TYPE_Q6_K, GGML_TYPE_Q8_0, GGML_TYPE_Q4_0};
static const char *type_names[] = {"q4_k", "q6_k", "q8_0", "q4_0"};

static void emit_case(const char *name, const float *x, int n) {
    char key[256];
    snprintf(key, sizeof key, "input/%s", name);
    record(key, x, 4 * (uint64_t)n);
    float *y = malloc(4 * (size_t)n);
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        size_t size = ggml_row_size(types[t], n);
        void *q = calloc(1, size);
        size_t got = ggml_quantize_chunk(types[t], x, q, 0, 1, n, NULL);
        if (got != size) {
            fprintf(stderr, "%s %s: %zu bytes, want %zu\n", type_names[t], name, got, size);
            exit(1);
        }
        snprintf(key, sizeof key, "%s/%s", type_names[t], name);
        record(key, q, size);
        ggml_get_type_traits(types[t])->to_float(q, y, n);
        snprintf(key, sizeof key, "%s_to_float/%s", type_names[t], name);
        record(key, y, 4 * (uint64_t)n);
        free(q);
    }
    size_t size = ggml_row_size(GGML_TYPE_Q8_0, n);
    void *q = calloc(1, size);
    cpu_q8_0(x, q, n);
    snprintf(key, sizeof key, "q8_0_act/%s", name);
    record(key, q, size);
    free(q);
    size = ggml_row_size(GGML_TYPE_Q8_K, n);
    q = calloc(1, size); // ggml leaves bsums unwritten for an all-zero block
    cpu_q8_K(x, q, n);
    snprintf(key, sizeof key, "q8_k/%s", name);
    record(key, q, size);
    free(q);
    free(y);
}

static uint16_t finite_half(void) { // a random finite fp16, either sign
    for (;;) {
        uint16_t h = (uint16_t)next64();
        if ((h & 0x7c00) != 0x7c00) return h;
    }
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: gen LIBGGML_CPU_VARIANT.so OUT\n");
        return 2;
    }
    void *cpu = dlopen(argv[1], RTLD_NOW);
    if (!cpu) {
        fprintf(stderr, "%s\n", dlerror());
        return 1;
    }
    cpu_q8_0 = (row_fn)dlsym(cpu, "quantize_row_q8_0");
    cpu_q8_K = (row_fn)dlsym(cpu, "quantize_row_q8_K");
    if (!cpu_q8_0 || !cpu_q8_K) {
        fprintf(stderr, "quantize_row_q8_0/q8_K not found in %s\n", argv[1]);
        return 1;
    }
    out = fopen(argv[2], "wb");
    if (!out) {
        perror(argv[2]);
        return 1;
    }
    enum { SB = 256 };
    float x[16 * SB];

    for (int i = 0; i < 8 * SB; i++) x[i] = (float)normal();
    emit_case("normal", x, 8 * SB);
    for (int i = 0; i < 8 * SB; i++) x[i] = (float)(0.02 * normal());
    emit_case("weights", x, 8 * SB);
    // 16 super-blocks, each in its own binade: 2^-44 .. 2^16 in steps of 4,
    // covering fp16 scales that are subnormal or underflow to 0, groups
    // below GROUP_MAX_EPS, and Q4_0 scales that overflow to inf.
    for (int b = 0; b < 16; b++)
        for (int i = 0; i < SB; i++) x[b * SB + i] = (float)ldexp(normal(), 4 * b - 44);
    emit_case("binades", x, 16 * SB);
    memset(x, 0, sizeof x);
    emit_case("zero", x, SB);
    for (int i = 0; i < SB; i++) x[i] = (float)(0.5 + uniform());
    emit_case("positive", x, SB);
    for (int i = 0; i < SB; i++) x[i] = (float)(-0.5 - uniform());
    emit_case("negative", x, SB);
    for (int i = 0; i < SB; i++) x[i] = 0.7f;
    for (int i = SB; i < 2 * SB; i++) x[i] = -0.7f;
    emit_case("constant", x, 2 * SB);
    for (int i = 0; i < SB; i++) x[i] = (float)(1e-3 * normal());
    x[77] = 50;
    x[200] = -80;
    emit_case("outliers", x, SB);
    // Values on a grid of quarters: many exact ties in every rounding.
    for (int i = 0; i < 4 * SB; i++) x[i] = (float)((int)(next64() % 33) - 16) / 4;
    emit_case("grid", x, 4 * SB);
    for (int i = 0; i < 2 * SB; i++) x[i] = (float)(1e6 * normal());
    emit_case("huge", x, 2 * SB);
    // Scales beyond fp16: 1e9 overflows every format's d to inf (what ggml
    // then computes with inf and NaN is pinned too).
    for (int i = 0; i < SB; i++) x[i] = (float)(1e9 * normal());
    emit_case("overflow", x, SB);
    // Sub-blocks alternately zero and not.
    for (int i = 0; i < 2 * SB; i++) x[i] = ((i / 16) % 3 == 0) ? 0 : (float)normal();
    emit_case("sparse", x, 2 * SB);

    // Activation edge cases (blocks of 32, padded to 256): exact ties of
    // x*127/amax (amax 127 and 254, halves and odd integers), and values
    // where 127/amax and 1/(amax/127), the multipliers of the activation
    // and the weight quantizer, round x*id to different integers.
    memset(x, 0, sizeof x);
    for (int j = 0; j < 32; j++) {
        x[j] = j == 0 ? 127 : (float)(j - 16) + 0.5f;
        x[32 + j] = j == 0 ? -254 : (float)(2 * (j - 16) + 1);
    }
    {
        int b = 2;
        for (int tries = 0; b < 8 && tries < 1000000; tries++) {
            float amax = (float)(0.5 + uniform());
            float id_act = 127.f / amax, id_ref = 1.0f / (amax / 127);
            if (id_act == id_ref) continue;
            int n = 1;
            x[32 * b] = amax;
            for (int k = 0; k < 2000 && n < 32; k++) {
                // Near a rounding boundary of x*id_act, a few ulps either side.
                float v = ((float)((int)(next64() % 253) - 126) + 0.5f) / id_act;
                for (int s = 0; s < 4; s++) v = nextafterf(v, -INFINITY);
                for (int s = 0; s < 8 && n < 32; s++, v = nextafterf(v, INFINITY))
                    if (fabsf(v) <= amax && nearbyintf(v * id_act) != nearbyintf(v * id_ref)) x[32 * b + n++] = v;
            }
            if (n == 32) b++;
        }
        if (b < 8) {
            fprintf(stderr, "found only %d blocks where the multipliers differ\n", b - 2);
            return 1;
        }
    }
    emit_case("act_ties", x, SB);

    // Random blocks: any quants and scales, finite fp16 d (and dmin).
    enum { NB = 32 };
    const struct { enum ggml_type t; const char *name; int dpos[2]; } rnd[] = {
        {GGML_TYPE_Q4_K, "q4_k", {0, 2}}, {GGML_TYPE_Q6_K, "q6_k", {208, 208}},
        {GGML_TYPE_Q8_0, "q8_0", {0, 0}}, {GGML_TYPE_Q4_0, "q4_0", {0, 0}},
    };
    for (size_t r = 0; r < sizeof rnd / sizeof rnd[0]; r++) {
        size_t bs = ggml_type_size(rnd[r].t);
        int64_t bv = ggml_blck_size(rnd[r].t);
        uint8_t *q = malloc(bs * NB);
        for (size_t i = 0; i < bs * NB; i++) q[i] = (uint8_t)next64();
        for (int b = 0; b < NB; b++)
            for (int k = 0; k < 2; k++) {
                uint16_t h = finite_half();
                memcpy(q + b * bs + rnd[r].dpos[k], &h, 2);
            }
        float *y = malloc(4 * bv * NB);
        ggml_get_type_traits(rnd[r].t)->to_float(q, y, bv * NB);
        char key[64];
        snprintf(key, sizeof key, "random/%s", rnd[r].name);
        record(key, q, bs * NB);
        snprintf(key, sizeof key, "random_to_float/%s", rnd[r].name);
        record(key, y, 4 * (uint64_t)bv * NB);
        free(q);
        free(y);
    }
    if (fclose(out) != 0) {
        perror(argv[2]);
        return 1;
    }
    return 0;
}
