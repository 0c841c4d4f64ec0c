/* A shared object that links libadvgnn but exports no advgnn_plugin_describe,
 * like a helper library dropped into a plugin folder by mistake. */
#include <advgnn/plugin.h>

ADVGNN_PLUGIN_EXPORT int advgnn_test_not_a_plugin(void);

ADVGNN_PLUGIN_EXPORT int advgnn_test_not_a_plugin(void)
{
    return 42;
}
