/* Internal: an exact LRU stack with O(log n) stack-depth queries (Mattson's stack algorithm
 * made efficient the Bennett-Kruskal way).
 *
 * Every access gets the next sequence number; a Fenwick tree holds a 1 at the sequence
 * number of each page's latest access. A page's stack depth is then the number of ones at or
 * after its latest sequence number: the distinct pages touched since. When sequence numbers
 * run out the live ones are renumbered in order (amortised O(1) per access). When more than
 * cap pages are tracked the least recently used one is forgotten, found by a Fenwick
 * descent for the first one. */
#ifndef DMP_BALLOON_LRU_STACK_H
#define DMP_BALLOON_LRU_STACK_H

#include "u64map.h"

struct lru_stack {
    uint64_t cap;           /* pages tracked at most */
    uint64_t tcap;          /* sequence numbers 1..tcap-1 before renumbering */
    uint32_t *fen;          /* Fenwick tree over sequence numbers, 1-based */
    uint64_t *seq_gfn;      /* sequence number -> gfn + 1 (0: stale) */
    struct u64map where;    /* gfn -> sequence number of its latest access */
    uint64_t next_seq;
    uint64_t live;
};

int lru_stack_init(struct lru_stack *s, uint64_t cap);
void lru_stack_free(struct lru_stack *s);
/* Record an access; *depth is the page's 1-based stack depth before the access, or 0 if the
 * page was not in the stack (first touch, or forgotten). Returns 0, or -ENOMEM only. */
int lru_stack_access(struct lru_stack *s, uint64_t gfn, uint64_t *depth);

#endif
