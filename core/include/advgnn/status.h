/* Status codes shared by the core, the plugins and the CLI. */
#ifndef ADVGNN_STATUS_H
#define ADVGNN_STATUS_H

#ifdef __cplusplus
extern "C" {
#endif

/* Every fallible function returns one of these. Values are part of the ABI:
 * they are never renumbered, and a retired code keeps its number. */
typedef enum advgnn_status {
    ADVGNN_OK = 0,
    ADVGNN_ERR_NOMEM = -1,          /* an allocation failed */
    ADVGNN_ERR_INVALID_ARG = -2,    /* a caller passed a value outside the contract */
    ADVGNN_ERR_IO = -3,             /* a file or folder could not be read or written */
    ADVGNN_ERR_FORMAT = -4,         /* input data is corrupt or of an unsupported format */
    ADVGNN_ERR_NOT_FOUND = -5,      /* a named file, plugin, key or category does not exist */
    ADVGNN_ERR_PLUGIN = -6,         /* a plugin failed to load or returned an error */
    ADVGNN_ERR_ABI = -7,            /* a plugin was built for an incompatible ABI */
    ADVGNN_ERR_OPTION = -8,         /* an option is unknown, of the wrong type or out of range */
    ADVGNN_ERR_SCRIPT = -9,         /* a Lua script raised an error */
    ADVGNN_ERR_NUMERIC = -10,       /* NaN, infinity or another numerical failure */
    ADVGNN_ERR_UNDEFINED = -11,     /* a metric is undefined for this input (one class only) */
    ADVGNN_ERR_NOT_IMPLEMENTED = -12, /* the requested path does not exist yet */
    ADVGNN_ERR_NETWORK = -13,       /* a network request failed */
    ADVGNN_ERR_LIMIT = -14,         /* input exceeds a configured limit (size, pixels) */
    ADVGNN_ERR_INTERRUPTED = -15,   /* SIGINT or SIGTERM stopped the run */
    ADVGNN_ERR_INTERNAL = -16,      /* a bug: an invariant of the library failed */
    ADVGNN_ERR_BACKEND = -17        /* oneDNN or another compute library failed */
} advgnn_status;

/* Returns a static lowercase name for a status ("out of memory", "format error"),
 * or "unknown status" for a value outside the enum. Never NULL. */
const char *advgnn_status_name(int status);

#ifdef __cplusplus
}
#endif
#endif
