/* advgnn: the public API in one include. */
#ifndef ADVGNN_ADVGNN_H
#define ADVGNN_ADVGNN_H

#include "advgnn/context.h"
#include "advgnn/dataset.h"
#include "advgnn/encoder.h"
#include "advgnn/graph.h"
#include "advgnn/image.h"
#include "advgnn/metrics.h"
#include "advgnn/nn.h"
#include "advgnn/nnsearch.h"
#include "advgnn/options.h"
#include "advgnn/plugin.h"
#include "advgnn/rng.h"
#include "advgnn/scorer.h"
#include "advgnn/status.h"
#include "advgnn/tensor.h"
#include "advgnn/version.h"

#endif
