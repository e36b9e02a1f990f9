/* Test interface of the op layer: introspection that only tests and benchmarks use. */
#ifndef DP_OPS_TESTING_H
#define DP_OPS_TESTING_H

#include "nn.h"

/* Number of primitives created so far (tests check the per-image path creates none). */
int dp_nn_primitive_count(const dp_nn *nn);

#endif
