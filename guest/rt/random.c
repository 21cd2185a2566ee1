/*
 * random.c: lvrt_random, xoshiro256** (Blackman and Vigna's generator,
 * written from its published definition) seeded from the boot info's
 * seed: 32 fresh bytes from the host at each boot and at each restore of
 * a snapshot. The state is seeded on first use and again whenever the
 * boot info's generation changes, so the clones of one snapshot, which
 * share its memory, do not share their random numbers. The TSC is mixed
 * in too. Not cryptographic.
 */
#include "rt.h"

static uint64_t s[4];
static uint64_t seed_gen;
static int seeded;

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

/* splitmix64: spreads a word over the whole state (never all zero). */
static uint64_t splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void reseed(void)
{
    const struct lv_bootinfo *bi = rt_bi;
    uint64_t w[4], g, x;

    for (unsigned tries = 0;; tries++) { /* one generation's seed (clock.c) */
        g = bi->generation;
        rt_barrier();
        memcpy(w, bi->seed, sizeof(w));
        rt_barrier();
        if (bi->generation == g || tries >= 8)
            break;
    }
    x = rt_rdtsc();
    for (unsigned i = 0; i < 4; i++) {
        x ^= w[i];
        s[i] = splitmix(&x);
    }
    seed_gen = g;
    seeded = 1;
}

uint64_t lvrt_random64(void)
{
    uint64_t r, t;

    if (!seeded || rt_bi->generation != seed_gen)
        reseed();
    r = rotl(s[1] * 5, 7) * 9;
    t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return r;
}

uint32_t lvrt_random(void)
{
    return (uint32_t)(lvrt_random64() >> 32);
}
