/* Library and plugin ABI versions. */
#ifndef ADVGNN_VERSION_H
#define ADVGNN_VERSION_H

#ifdef __cplusplus
extern "C" {
#endif

#define ADVGNN_VERSION_MAJOR 0
#define ADVGNN_VERSION_MINOR 1
#define ADVGNN_VERSION_PATCH 0
#define ADVGNN_VERSION_STRING "0.1.0"

/* Plugin ABI. A plugin built for another major version is rejected. A plugin
 * built for an older minor version is accepted: descriptors and function tables
 * only grow at the end, and slots beyond the plugin's struct_size count as absent. */
/* 1.1 added the optional dataset slot load_defect_masks and choices on string
 * list options. 1.2 added the optional encoder slot check_options. */
#define ADVGNN_ABI_MAJOR 1u
#define ADVGNN_ABI_MINOR 2u
#define ADVGNN_ABI_VERSION ((ADVGNN_ABI_MAJOR << 16) | ADVGNN_ABI_MINOR)
#define ADVGNN_ABI_VERSION_MAJOR(v) ((unsigned)(v) >> 16)
#define ADVGNN_ABI_VERSION_MINOR(v) ((unsigned)(v)&0xffffu)

/* Returns ADVGNN_VERSION_STRING of the library actually loaded at run time. */
const char *advgnn_version_string(void);

#ifdef __cplusplus
}
#endif
#endif
