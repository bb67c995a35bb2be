//===- ExpertGroups.h - MoE routing grouped by expert --------------------===//
//
// MoE prefill runs each expert's FFN once over all the tokens routed to it,
// so the expert's weights are read once per batch instead of once per token.
// The generated program calls these helpers around its per-expert kernels:
// groupByExpert orders the (token, slot) pairs of a top-K routing by expert,
// gatherPairRows copies the routed tokens' rows into that order.
//
// A pair is numbered t * topK + slot (its place in the [T, topK] routing);
// a grouped row is its place in the expert-major order.
//
//===----------------------------------------------------------------------===//
#ifndef LFM2C_RUNTIME_EXPERTGROUPS_H
#define LFM2C_RUNTIME_EXPERTGROUPS_H

#include "runtime/Status.h"

#include <cstdint>

namespace lfm2c::rt {

// Counting sort of the pairs by expert, stable (within an expert, pairs stay
// in token order). indices: [tokens, topK] expert ids. Writes
// - offsets [experts + 1]: expert e owns grouped rows [offsets[e],
//   offsets[e + 1]);
// - pairs [tokens * topK]: the pair at each grouped row;
// - rowOf [tokens * topK]: the grouped row of each pair (pairs' inverse).
// Fails before writing anything on an expert id outside [0, experts) or
// sizes that do not fit the int32 outputs.
Status groupByExpert(const int32_t *indices, int64_t tokens, int64_t topK,
                     int64_t experts, int32_t *offsets, int32_t *pairs,
                     int32_t *rowOf);

// dst row r = src row (pairs[r] / topK) for r in [0, rows): the token of
// each grouped pair. Rows are rowBytes bytes, packed in src and dst.
void gatherPairRows(const void *src, int64_t rowBytes, const int32_t *pairs,
                    int64_t rows, int64_t topK, void *dst);

} // namespace lfm2c::rt

#endif // LFM2C_RUNTIME_EXPERTGROUPS_H
