/* Loads one plugin file the way the advgnn command does (dlopen, the entry
 * symbol, the ABI version and type fingerprint), using only the installed
 * headers and library. The install test uses it when the installed tree has
 * no advgnn command. Prints the plugin's kind, name, version and options. */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include <advgnn/plugin.h>

int main(int argc, char **argv)
{
    const advgnn_plugin_descriptor *(*describe)(void);
    const advgnn_plugin_descriptor *desc;
    void *handle, *symbol;

    if (argc != 2) {
        fprintf(stderr, "usage: load_plugin FILE.so\n");
        return 2;
    }

    handle = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        fprintf(stderr, "load_plugin: %s\n", dlerror());
        return 1;
    }
    symbol = dlsym(handle, ADVGNN_PLUGIN_ENTRY_SYMBOL);
    if (!symbol) {
        fprintf(stderr, "load_plugin: %s: entry symbol %s not found\n", argv[1], ADVGNN_PLUGIN_ENTRY_SYMBOL);
        return 1;
    }
    memcpy(&describe, &symbol, sizeof(describe));
    desc = describe();

    if (!desc || ADVGNN_ABI_VERSION_MAJOR(desc->abi_version) != ADVGNN_ABI_MAJOR ||
        desc->type_fingerprint != ADVGNN_TYPE_FINGERPRINT) {
        fprintf(stderr, "load_plugin: %s: ABI version or type fingerprint mismatch\n", argv[1]);
        return 1;
    }
    printf("advgnn %s: %s plugin %s %s\n", advgnn_version_string(), advgnn_plugin_kind_name(desc->kind), desc->name,
           desc->version);
    for (size_t i = 0; desc->options && desc->options[i].name; i++)
        printf("option %s %s\n", desc->options[i].name, advgnn_option_type_name(desc->options[i].type));
    dlclose(handle);
    return 0;
}
