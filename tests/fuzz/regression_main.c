/* Runs a fuzz target's entry point on every file of the given folders, so
 * inputs that once crashed stay fixed in ordinary builds without libFuzzer. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    long len;
    uint8_t *buf;

    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        return 1;
    }
    fseek(f, 0, SEEK_END);
    len = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc(len > 0 ? (size_t)len : 1);
    if (!buf || fread(buf, 1, (size_t)len, f) != (size_t)len) {
        fclose(f);
        free(buf);
        fprintf(stderr, "cannot read %s\n", path);
        return 1;
    }
    fclose(f);
    LLVMFuzzerTestOneInput(buf, (size_t)len);
    free(buf);
    return 0;
}

int main(int argc, char **argv)
{
    int failures = 0, files = 0;

    for (int i = 1; i < argc; i++) {
        DIR *d = opendir(argv[i]);
        struct dirent *ent;
        if (!d) {
            fprintf(stderr, "cannot open folder %s\n", argv[i]);
            return 1;
        }
        while ((ent = readdir(d)) != NULL) {
            char path[4096];
            if (ent->d_name[0] == '.')
                continue;
            snprintf(path, sizeof(path), "%s/%s", argv[i], ent->d_name);
            failures += run_file(path);
            files++;
        }
        closedir(d);
    }
    printf("%d inputs ran, %d could not be read\n", files, failures);
    return failures ? 1 : 0;
}
