/*
 * Compares libsoxr and libsamplerate for Intone's resampling (espeak-ng's 22050 Hz mono
 * Int16 to the contract's output rates): aliasing, pass band, speed, and whether feeding
 * the input in pieces gives the same output as feeding it at once.
 *
 *   bench/resampler/run.sh        (renders speech with espeak-ng, builds and runs this)
 *
 * Not part of the product: Intone links only the resampler it chose (see
 * Sources/IntoneCore/Audio/Resampler.swift).
 */
#include <math.h>
#include <samplerate.h>
#include <sndfile.h>
#include <soxr.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define INPUT_RATE 22050

typedef struct {
    const char *name;
    int library;  /* 0 soxr, 1 libsamplerate */
    unsigned long soxrRecipe;
    int srcType;
} Resampler;

static const Resampler resamplers[] = {
    {"soxr QQ", 0, SOXR_QQ, 0},
    {"soxr LQ", 0, SOXR_LQ, 0},
    {"soxr MQ", 0, SOXR_MQ, 0},
    {"soxr HQ", 0, SOXR_HQ, 0},
    {"soxr VHQ", 0, SOXR_VHQ, 0},
    {"src SINC_FASTEST", 1, 0, SRC_SINC_FASTEST},
    {"src SINC_MEDIUM", 1, 0, SRC_SINC_MEDIUM_QUALITY},
    {"src SINC_BEST", 1, 0, SRC_SINC_BEST_QUALITY},
    {"src LINEAR", 1, 0, SRC_LINEAR},
};

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

/* Resamples float input; `piece` > 0 feeds the input in pieces of pseudo-random sizes up
 * to `piece`. Returns the output length; *out is malloc'd. */
static size_t resample(const Resampler *r, const float *in, size_t n, int outRate, size_t piece, float **out) {
    size_t capacity = (size_t)((double)n * outRate / INPUT_RATE) + 4096;
    float *o = malloc(capacity * sizeof(float));
    size_t produced = 0, consumed = 0;
    uint32_t seed = 12345;
    if (r->library == 0) {
        soxr_error_t error = NULL;
        soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I);
        soxr_quality_spec_t quality = soxr_quality_spec(r->soxrRecipe, 0);
        soxr_runtime_spec_t runtime = soxr_runtime_spec(1);
        soxr_t s = soxr_create(INPUT_RATE, outRate, 1, &error, &io, &quality, &runtime);
        if (error) { fprintf(stderr, "soxr: %s\n", error); exit(1); }
        while (consumed < n) {
            size_t take = n - consumed;
            if (piece > 0) {
                seed = seed * 1103515245u + 12345u;
                size_t want = 1 + (seed >> 8) % piece;
                if (want < take) take = want;
            }
            size_t idone = 0, odone = 0;
            soxr_process(s, in + consumed, take, &idone, o + produced, capacity - produced, &odone);
            consumed += idone;
            produced += odone;
        }
        for (;;) {
            size_t odone = 0;
            soxr_process(s, NULL, 0, NULL, o + produced, capacity - produced, &odone);
            produced += odone;
            if (odone == 0) break;
        }
        soxr_delete(s);
    } else {
        int error = 0;
        SRC_STATE *s = src_new(r->srcType, 1, &error);
        if (!s) { fprintf(stderr, "src: %s\n", src_strerror(error)); exit(1); }
        SRC_DATA d;
        memset(&d, 0, sizeof d);
        d.src_ratio = (double)outRate / INPUT_RATE;
        int last = 0;
        while (!last) {
            size_t take = n - consumed;
            if (piece > 0) {
                seed = seed * 1103515245u + 12345u;
                size_t want = 1 + (seed >> 8) % piece;
                if (want < take) take = want;
            }
            last = consumed + take >= n;
            d.data_in = in + consumed;
            d.input_frames = (long)take;
            d.data_out = o + produced;
            d.output_frames = (long)(capacity - produced);
            d.end_of_input = last;
            src_process(s, &d);
            consumed += d.input_frames_used;
            produced += d.output_frames_gen;
            /* libsamplerate keeps what it cannot use yet inside; loop until it took all. */
            while (d.input_frames_used < (long)take || (last && d.output_frames_gen > 0)) {
                take -= d.input_frames_used;
                d.data_in = in + consumed;
                d.input_frames = (long)take;
                d.data_out = o + produced;
                d.output_frames = (long)(capacity - produced);
                src_process(s, &d);
                consumed += d.input_frames_used;
                produced += d.output_frames_gen;
                if (d.input_frames_used == 0 && d.output_frames_gen == 0) break;
            }
        }
        src_delete(s);
    }
    *out = o;
    return produced;
}

/* Energy per frequency band from an averaged periodogram (Hann windows of 2048, half overlap). */
static void fft(double *re, double *im, int n) {
    for (int i = 1, j = 0; i < n; i++) {
        int bit = n >> 1;
        for (; j & bit; bit >>= 1) j ^= bit;
        j ^= bit;
        if (i < j) { double t = re[i]; re[i] = re[j]; re[j] = t; t = im[i]; im[i] = im[j]; im[j] = t; }
    }
    for (int len = 2; len <= n; len <<= 1) {
        double angle = -2 * M_PI / len;
        for (int i = 0; i < n; i += len)
            for (int k = 0; k < len / 2; k++) {
                double wr = cos(angle * k), wi = sin(angle * k);
                double ur = re[i + k], ui = im[i + k];
                double vr = re[i + k + len / 2] * wr - im[i + k + len / 2] * wi;
                double vi = re[i + k + len / 2] * wi + im[i + k + len / 2] * wr;
                re[i + k] = ur + vr; im[i + k] = ui + vi;
                re[i + k + len / 2] = ur - vr; im[i + k + len / 2] = ui - vi;
            }
    }
}

static double bandEnergy(const float *x, size_t n, int rate, double low, double high) {
    enum { N = 2048 };
    static double re[N], im[N];
    double total = 0;
    for (size_t start = 0; start + N <= n; start += N / 2) {
        for (int i = 0; i < N; i++) {
            re[i] = x[start + i] * (0.5 - 0.5 * cos(2 * M_PI * i / N));
            im[i] = 0;
        }
        fft(re, im, N);
        for (int k = 0; k <= N / 2; k++) {
            double f = (double)k * rate / N;
            if (f >= low && f < high) total += re[k] * re[k] + im[k] * im[k];
        }
    }
    return total;
}

static double rms(const float *x, size_t n) {
    double s = 0;
    /* Skip the edges, where filters ramp up and down. */
    size_t edge = n / 10;
    for (size_t i = edge; i < n - edge; i++) s += (double)x[i] * x[i];
    return sqrt(s / (n - 2 * edge));
}

static double toneGain(const Resampler *r, double frequency, int outRate) {
    size_t n = INPUT_RATE * 2;
    float *in = malloc(n * sizeof(float)), *out;
    for (size_t i = 0; i < n; i++) in[i] = 0.5f * (float)sin(2 * M_PI * frequency * i / INPUT_RATE);
    size_t m = resample(r, in, n, outRate, 0, &out);
    double gain = 20 * log10(rms(out, m) / rms(in, n) + 1e-12);
    free(in);
    free(out);
    return gain;
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: %s speech-22050.wav\n", argv[0]); return 2; }
    SF_INFO info;
    memset(&info, 0, sizeof info);
    SNDFILE *file = sf_open(argv[1], SFM_READ, &info);
    if (!file || info.samplerate != INPUT_RATE || info.channels != 1) { fprintf(stderr, "need a mono 22050 Hz file\n"); return 1; }
    size_t n = (size_t)info.frames;
    float *speech = malloc(n * sizeof(float));
    sf_read_float(file, speech, (sf_count_t)n);
    sf_close(file);
    double seconds = (double)n / INPUT_RATE;
    double inputRatio = bandEnergy(speech, n, INPUT_RATE, 3000, 3800) / bandEnergy(speech, n, INPUT_RATE, 300, 3000);

    printf("Input: %.1f s of espeak-ng speech at 22050 Hz\n\n", seconds);
    printf("Aliasing at 8000 Hz (contract ratio: (3.0-3.8 kHz / 0.3-3.0 kHz) out / in, below 1.25),\n");
    printf("tone gains in dB (3400 Hz pass band; 4200 and 5000 Hz must vanish, they alias to 3800 and 3000),\n");
    printf("CPU time per second of speech (ms) to 8000 / 16000 / 24000 / 48000 Hz (best of 5),\n");
    printf("the cost of one resampler for a one-sample reply to 8000 Hz (ms; mostly its filter design),\n");
    printf("and whether feeding pieces of 1..997 samples gives the same output as one call.\n\n");
    printf("| resampler | ratio | 3400 Hz | 4200 Hz | 5000 Hz | ms/s 8k | ms/s 16k | ms/s 24k | ms/s 48k | setup ms | pieces = whole |\n");
    printf("|---|---|---|---|---|---|---|---|---|---|---|\n");
    /* A "sample dropping" row for reference: every 22050/8000-th sample, nearest. */
    {
        size_t m = (size_t)(n * 8000.0 / INPUT_RATE);
        float *dropped = malloc(m * sizeof(float));
        for (size_t i = 0; i < m; i++) dropped[i] = speech[(size_t)(i * (double)INPUT_RATE / 8000)];
        double ratio = bandEnergy(dropped, m, 8000, 3000, 3800) / bandEnergy(dropped, m, 8000, 300, 3000) / inputRatio;
        printf("| sample dropping | %.2f | | | | | | | | | |\n", ratio);
        free(dropped);
    }
    int rates[] = {8000, 16000, 24000, 48000};
    for (size_t k = 0; k < sizeof resamplers / sizeof resamplers[0]; k++) {
        const Resampler *r = &resamplers[k];
        float *out;
        size_t m = resample(r, speech, n, 8000, 0, &out);
        double ratio = bandEnergy(out, m, 8000, 3000, 3800) / bandEnergy(out, m, 8000, 300, 3000) / inputRatio;
        float *pieces;
        size_t mp = resample(r, speech, n, 8000, 997, &pieces);
        int same = mp == m && memcmp(out, pieces, m * sizeof(float)) == 0;
        size_t differing = 0;
        double worst = 0;
        for (size_t i = 0; i < m && i < mp; i++)
            if (out[i] != pieces[i]) {
                differing++;
                if (fabs(out[i] - pieces[i]) > worst) worst = fabs(out[i] - pieces[i]);
            }
        free(out);
        free(pieces);
        /* CPU per second of speech, best of five, and the cost of a resampler for a
         * one-sample reply (mostly designing the filter: one per reply in Intone). */
        double cost[4];
        for (int j = 0; j < 4; j++) {
            cost[j] = 1e9;
            for (int t = 0; t < 5; t++) {
                float *o;
                double start = now();
                resample(r, speech, n, rates[j], 0, &o);
                double spent = now() - start;
                free(o);
                if (spent < cost[j]) cost[j] = spent;
            }
            cost[j] = cost[j] / seconds * 1000;
        }
        double setup = 1e9;
        for (int t = 0; t < 20; t++) {
            float *o;
            double start = now();
            resample(r, speech, 1, 8000, 0, &o);
            double spent = now() - start;
            free(o);
            if (spent < setup) setup = spent;
        }
        char sameText[96];
        if (same) snprintf(sameText, sizeof sameText, "yes");
        else snprintf(sameText, sizeof sameText, "no (%zu vs %zu samples, %zu differ, max %.1e)", mp, m, differing, worst);
        printf("| %s | %.2f | %.2f | %.1f | %.1f | %.3f | %.3f | %.3f | %.3f | %.3f | %s |\n", r->name, ratio, toneGain(r, 3400, 8000),
               toneGain(r, 4200, 8000), toneGain(r, 5000, 8000), cost[0], cost[1], cost[2], cost[3], setup * 1000, sameText);
    }
    free(speech);
    return 0;
}
