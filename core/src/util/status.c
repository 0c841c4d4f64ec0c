/* Names of status codes and of the enums shared with plugins. */
#include "advgnn/dataset.h"
#include "advgnn/plugin.h"
#include "advgnn/status.h"
#include "advgnn/version.h"

const char *advgnn_status_name(int status)
{
    switch (status) {
    case ADVGNN_OK: return "ok";
    case ADVGNN_ERR_NOMEM: return "out of memory";
    case ADVGNN_ERR_INVALID_ARG: return "invalid argument";
    case ADVGNN_ERR_IO: return "input/output error";
    case ADVGNN_ERR_FORMAT: return "format error";
    case ADVGNN_ERR_NOT_FOUND: return "not found";
    case ADVGNN_ERR_PLUGIN: return "plugin error";
    case ADVGNN_ERR_ABI: return "incompatible plugin ABI";
    case ADVGNN_ERR_OPTION: return "option error";
    case ADVGNN_ERR_SCRIPT: return "script error";
    case ADVGNN_ERR_NUMERIC: return "numerical error";
    case ADVGNN_ERR_UNDEFINED: return "undefined";
    case ADVGNN_ERR_NOT_IMPLEMENTED: return "not implemented";
    case ADVGNN_ERR_NETWORK: return "network error";
    case ADVGNN_ERR_LIMIT: return "limit exceeded";
    case ADVGNN_ERR_INTERRUPTED: return "interrupted";
    case ADVGNN_ERR_INTERNAL: return "internal error";
    case ADVGNN_ERR_BACKEND: return "compute backend error";
    default: return "unknown status";
    }
}

const char *advgnn_split_name(advgnn_split split)
{
    switch (split) {
    case ADVGNN_SPLIT_TRAIN: return "train";
    case ADVGNN_SPLIT_VALIDATION: return "validation";
    case ADVGNN_SPLIT_TEST: return "test";
    default: return "invalid";
    }
}

const char *advgnn_plugin_kind_name(advgnn_plugin_kind kind)
{
    switch (kind) {
    case ADVGNN_PLUGIN_ENCODER: return "encoder";
    case ADVGNN_PLUGIN_SCORER: return "scorer";
    case ADVGNN_PLUGIN_DATASET: return "dataset";
    default: return "invalid";
    }
}

const char *advgnn_version_string(void)
{
    return ADVGNN_VERSION_STRING;
}
