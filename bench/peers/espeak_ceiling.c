/*
 * The most a core can render: libespeak-ng speaking the benchmark's reply in this
 * process, over and over, with nothing around it (no queue, no child process, no
 * encoding, no copy of the samples). A worker that renders the same reply can only come
 * close to this; bench/peers/run.sh runs two of these side by side for the two-core
 * ceiling.
 *
 *   cc -O2 -o espeak-ceiling bench/peers/espeak_ceiling.c -lespeak-ng
 *   ./espeak-ceiling [RENDERS] [TEXT]     (default 300 renders of the benchmark reply)
 *
 * Prints one JSON object: renders, seconds, jobs_per_s, audio seconds per render.
 */
#include <espeak-ng/speak_lib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *benchmark_reply =
    "Hello there. Your order has shipped and will arrive on Thursday, the twenty-seventh. "
    "Is there anything else I can help you with today?";

/* Samples espeak-ng handed over; they are counted, never kept. */
static unsigned long long samples_seen;

static int count_samples(short *samples, int count, espeak_EVENT *events) {
    (void)samples;
    (void)events;
    if (count > 0) samples_seen += (unsigned long long)count;
    return 0; /* 0: go on */
}

static double now_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    long renders = argc > 1 ? strtol(argv[1], NULL, 10) : 300;
    const char *text = argc > 2 ? argv[2] : benchmark_reply;
    if (renders < 1) {
        fprintf(stderr, "usage: %s [RENDERS >= 1] [TEXT]\n", argv[0]);
        return 2;
    }
    int sample_rate = espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, NULL, espeakINITIALIZE_DONT_EXIT);
    if (sample_rate <= 0) {
        fprintf(stderr, "espeak-ng did not initialise (is espeak-ng-data installed?)\n");
        return 1;
    }
    espeak_SetSynthCallback(count_samples);
    /* The worker's default voice. */
    if (espeak_SetVoiceByName("en") != EE_OK) {
        fprintf(stderr, "espeak-ng has no voice 'en'\n");
        return 1;
    }
    size_t size = strlen(text) + 1;
    double started = now_seconds();
    for (long i = 0; i < renders; i++) {
        if (espeak_Synth(text, size, 0, POS_CHARACTER, 0, espeakCHARS_UTF8, NULL, NULL) != EE_OK) {
            fprintf(stderr, "espeak_Synth failed at render %ld\n", i);
            return 1;
        }
    }
    double seconds = now_seconds() - started;
    espeak_Terminate();
    printf("{\"renders\": %ld, \"seconds\": %.4f, \"jobs_per_s\": %.2f, \"audio_s_per_render\": %.3f, "
           "\"text_chars\": %zu}\n",
           renders, seconds, (double)renders / seconds, (double)samples_seen / sample_rate / (double)renders, size - 1);
    return 0;
}
