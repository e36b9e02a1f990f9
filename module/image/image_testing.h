/* Test interface of the image layer: internals that only tests look at. */
#ifndef DP_IMAGE_TESTING_H
#define DP_IMAGE_TESTING_H

/* Blend weights along one axis of a tile at `pos` with length `len` inside a ROI side of
 * `roi_len`: w[i] for i in 0..len-1 (w: borrowed, written). An edge of the tile that is not on the
 * ROI border is shared with a neighbour; there the weight rises as a raised cosine
 * 0.5 - 0.5*cos(pi*(d + 0.5)/overlap) with the distance d from that edge, reaching 1 at `overlap`
 * pixels inside. On a ROI border (and everywhere when overlap <= 0) it is 1. Every weight is > 0.
 * Two neighbours stepped by len - overlap have weights that sum to 1 across their overlap.
 * The 2-D weight of tile pixel (x, y) is wx[x] * wy[y]. Invalid arguments write nothing. */
void dp_tiling_weights_1d(int pos, int len, int roi_len, int overlap, float *w);

#endif
