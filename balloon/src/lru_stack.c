#include "lru_stack.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int lru_stack_init(struct lru_stack *s, uint64_t cap)
{
    memset(s, 0, sizeof(*s));
    if (cap == 0)
        return -EINVAL;
    s->cap = cap;
    s->tcap = 2 * cap + 64;
    s->fen = calloc(s->tcap, sizeof(*s->fen));
    s->seq_gfn = calloc(s->tcap, sizeof(*s->seq_gfn));
    s->next_seq = 1;
    if (!s->fen || !s->seq_gfn || u64map_init(&s->where, cap) < 0) {
        lru_stack_free(s);
        return -ENOMEM;
    }
    return 0;
}

void lru_stack_free(struct lru_stack *s)
{
    free(s->fen);
    free(s->seq_gfn);
    u64map_free(&s->where);
    s->fen = NULL;
    s->seq_gfn = NULL;
}

static void fen_add(struct lru_stack *s, uint64_t i, int32_t d)
{
    for (; i < s->tcap; i += i & (~i + 1))
        s->fen[i] = (uint32_t)((int32_t)s->fen[i] + d);
}

static uint64_t fen_prefix(const struct lru_stack *s, uint64_t i)
{
    uint64_t sum = 0;
    for (; i > 0; i -= i & (~i + 1))
        sum += s->fen[i];
    return sum;
}

/* Smallest sequence number whose prefix sum reaches 1: the least recently used page. */
static uint64_t fen_first(const struct lru_stack *s)
{
    uint64_t pos = 0, step = 1;
    while (step * 2 < s->tcap)
        step *= 2;
    uint64_t need = 1;
    for (; step > 0; step /= 2) {
        if (pos + step < s->tcap && s->fen[pos + step] < need) {
            pos += step;
            need -= s->fen[pos];
        }
    }
    return pos + 1;
}

/* Renumber live entries 1..live in access order and rebuild the tree in O(tcap). */
static void renumber(struct lru_stack *s)
{
    uint64_t n = 0;
    for (uint64_t q = 1; q < s->next_seq; q++) {
        if (s->seq_gfn[q]) {
            uint64_t g = s->seq_gfn[q];
            s->seq_gfn[q] = 0;
            s->seq_gfn[++n] = g;
            *u64map_get(&s->where, g - 1) = n;
        }
    }
    memset(s->fen, 0, s->tcap * sizeof(*s->fen));
    for (uint64_t i = 1; i < s->tcap; i++) {
        if (i <= n)
            s->fen[i] += 1;
        uint64_t parent = i + (i & (~i + 1));
        if (parent < s->tcap)
            s->fen[parent] += s->fen[i];
    }
    s->next_seq = n + 1;
}

int lru_stack_access(struct lru_stack *s, uint64_t gfn, uint64_t *depth)
{
    uint64_t *at = u64map_get(&s->where, gfn);
    *depth = 0;
    if (at) {
        *depth = s->live - fen_prefix(s, *at - 1);
        fen_add(s, *at, -1);
        s->seq_gfn[*at] = 0;
        s->live--;
    } else if (s->live >= s->cap) {
        uint64_t old = fen_first(s);
        uint64_t og = s->seq_gfn[old] - 1;
        fen_add(s, old, -1);
        s->seq_gfn[old] = 0;
        u64map_del(&s->where, og);
        s->live--;
    }
    if (s->next_seq >= s->tcap)
        renumber(s);
    uint64_t q = s->next_seq++;
    fen_add(s, q, +1);
    s->seq_gfn[q] = gfn + 1;
    s->live++;
    if (u64map_put(&s->where, gfn, q) < 0)
        return -ENOMEM;     /* cannot happen: live <= cap entries */
    return 0;
}
