// f16 vs f32 (scripts/bench-f32): whole-file whisper_full on a 16 kHz mono WAV, greedy, timed per run.
// Prints each run's time on stderr and the last run's text on stdout.
#include "whisper.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <time.h>

// Reads a 16 kHz mono WAV of 16-bit or float samples; NULL (with a message) for anything else.
static float *read_wav(const char *path, int *n) {
    FILE *f = fopen(path, "rb");
    if (!f) { fprintf(stderr, "cannot open %s\n", path); return NULL; }
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = len > 12 ? malloc(len) : NULL;
    if (!b || fread(b, 1, len, f) != (size_t)len || memcmp(b, "RIFF", 4) || memcmp(b + 8, "WAVE", 4)) {
        fprintf(stderr, "%s is not a WAV file\n", path);
        fclose(f); free(b); return NULL;
    }
    fclose(f);
    int fmt = 0, bits = 0, channels = 0; uint32_t rate = 0; long p = 12; float *out = NULL;
    while (p + 8 <= len) {
        uint32_t sz = *(uint32_t *)(b + p + 4);
        if (sz > (uint64_t)(len - p - 8)) sz = len - p - 8;
        if (!memcmp(b + p, "fmt ", 4) && sz >= 16) {
            fmt = *(uint16_t *)(b + p + 8); channels = *(uint16_t *)(b + p + 10);
            rate = *(uint32_t *)(b + p + 12); bits = *(uint16_t *)(b + p + 22);
        }
        if (!memcmp(b + p, "data", 4)) {
            if (channels != 1 || rate != 16000 || !((fmt == 1 && bits == 16) || (fmt == 3 && bits == 32))) {
                fprintf(stderr, "%s: need 16 kHz mono, 16-bit or float samples\n", path);
                break;
            }
            *n = sz / (bits / 8);
            out = malloc(sizeof(float) * (*n > 0 ? *n : 1));
            for (int i = 0; out && i < *n; i++) {
                const unsigned char *s = b + p + 8 + (long)i * (bits / 8);
                if (fmt == 3) { float v; memcpy(&v, s, 4); out[i] = v; }
                else { int16_t v; memcpy(&v, s, 2); out[i] = v / 32768.0f; }
            }
            break;
        }
        p += 8 + sz + (sz & 1);
    }
    free(b);
    return out;
}

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }

int main(int argc, char **argv) {
    if (argc < 4) { fprintf(stderr, "usage: wbench MODEL WAV THREADS [RUNS]\n"); return 2; }
    int n = 0; float *pcm = read_wav(argv[2], &n);
    if (!pcm) { fprintf(stderr, "cannot read %s\n", argv[2]); return 1; }
    struct whisper_context_params cp = whisper_context_default_params();
    cp.use_gpu = false;
    struct whisper_context *ctx = whisper_init_from_file_with_params(argv[1], cp);
    if (!ctx) { fprintf(stderr, "cannot load %s\n", argv[1]); return 1; }
    int runs = argc > 4 ? atoi(argv[4]) : 3;
    for (int r = 0; r < runs; r++) {
        struct whisper_full_params p = whisper_full_default_params(WHISPER_SAMPLING_GREEDY);
        p.n_threads = atoi(argv[3]); p.print_progress = false; p.print_realtime = false; p.print_timestamps = false;
        p.language = "en";
        double t = now();
        if (whisper_full(ctx, p, pcm, n) != 0) { fprintf(stderr, "whisper_full failed\n"); return 1; }
        double dt = now() - t;
        fprintf(stderr, "run %d: %.3f s for %.1f s of audio\n", r, dt, n / 16000.0);
        if (r == runs - 1) {
            for (int i = 0; i < whisper_full_n_segments(ctx); i++) printf("%s", whisper_full_get_segment_text(ctx, i));
            printf("\n");
        }
    }
    whisper_free(ctx);
    return 0;
}
