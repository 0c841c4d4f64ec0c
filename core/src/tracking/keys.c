/* Key validation and sanitizing, value truncation, git facts of a folder. */
#include "tracking/keys.h"

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "advgnn/context.h"
#include "util/fsutil.h"

/* ---- keys -------------------------------------------------------------------- */

static int key_byte_ok(unsigned char c)
{
    return isalnum(c) || c == '_' || c == '-' || c == '.' || c == ' ' || c == '/' || c == ':';
}

int trk_key_is_valid(const char *key)
{
    size_t len = strlen(key);
    const char *segment = key;

    if (len == 0 || len > TRK_MAX_KEY_LENGTH || key[0] == '/' || key[len - 1] == '/')
        return 0;
    for (const char *p = key; *p; p++)
        if (!key_byte_ok((unsigned char)*p))
            return 0;

    /* Every segment must survive posixpath.normpath unchanged. */
    for (;;) {
        size_t seg_len = strcspn(segment, "/");

        if (seg_len == 0 || (seg_len == 1 && segment[0] == '.') ||
            (seg_len == 2 && segment[0] == '.' && segment[1] == '.'))
            return 0;
        if (segment[seg_len] == '\0')
            return 1;
        segment += seg_len + 1;
    }
}

char *trk_key_sanitize(const char *key)
{
    size_t len = strlen(key);
    char *out = advgnn_malloc(len + 2);
    size_t n = 0;
    const char *segment = key;

    if (!out)
        return NULL;

    /* Rebuild segment by segment, dropping empty, "." and ".." segments. */
    while (*segment) {
        size_t seg_len = strcspn(segment, "/");
        int dots = (seg_len == 1 && segment[0] == '.') || (seg_len == 2 && segment[0] == '.' && segment[1] == '.');

        if (seg_len > 0 && !dots) {
            if (n > 0)
                out[n++] = '/';
            for (size_t i = 0; i < seg_len; i++)
                out[n++] = key_byte_ok((unsigned char)segment[i]) ? segment[i] : '_';
        }
        segment += seg_len;
        if (*segment == '/')
            segment++;
    }

    if (n > TRK_MAX_KEY_LENGTH)
        n = TRK_MAX_KEY_LENGTH;
    while (n > 0 && out[n - 1] == '/')
        n--;
    if (n == 0)
        out[n++] = '_';
    out[n] = '\0';
    return out;
}

size_t trk_utf8_prefix(const char *value, size_t max)
{
    size_t len = strlen(value);

    if (len <= max)
        return len;

    /* Step back over continuation bytes (10xxxxxx) to a character start. */
    len = max;
    while (len > 0 && ((unsigned char)value[len] & 0xC0) == 0x80)
        len--;
    return len;
}

/* ---- git --------------------------------------------------------------------- */

/* Formats like snprintf and returns 1 when `out` received the whole text. */
static int format_path(char *out, size_t size, const char *fmt, const char *a, const char *b)
{
    int n = snprintf(out, size, fmt, a, b);

    return n >= 0 && (size_t)n < size;
}

/* Reads the first line of a small file into `out`; 0 when unreadable. */
static int read_first_line(const char *path, char *out, size_t size)
{
    FILE *file = fopen(path, "r");
    int ok;

    if (!file)
        return 0;
    ok = fgets(out, (int)size, file) != NULL;
    fclose(file);
    if (ok)
        out[strcspn(out, "\r\n")] = '\0';
    return ok;
}

static int is_commit_hash(const char *text)
{
    size_t i = 0;

    while (isxdigit((unsigned char)text[i]))
        i++;
    return i == 40;
}

/* Finds the git folder for `dir` or a parent: a ".git" folder, or a ".git" file
 * pointing elsewhere ("gitdir: PATH", used by worktrees and submodules). */
static int find_git_dir(const char *dir, char *git_dir, size_t size)
{
    char current[PATH_MAX];
    char candidate[PATH_MAX + 8];
    char line[PATH_MAX];

    if (!realpath(dir, current))
        return 0;
    for (;;) {
        if (!format_path(candidate, sizeof(candidate), "%s/%s", current, ".git"))
            return 0;
        if (advgnn_fs_is_dir(candidate)) {
            return format_path(git_dir, size, "%s%s", "", candidate);
        }
        if (advgnn_fs_is_file(candidate) && read_first_line(candidate, line, sizeof(line)) &&
            strncmp(line, "gitdir: ", 8) == 0) {
            if (line[8] == '/')
                return format_path(git_dir, size, "%s%s", "", line + 8);
            return format_path(git_dir, size, "%s/%s", current, line + 8);
        }
        if (strcmp(current, "/") == 0)
            return 0;
        *strrchr(current, '/') = '\0';
        if (current[0] == '\0')
            strcpy(current, "/");
    }
}

/* Resolves `ref` (e.g. "refs/heads/main") in a loose ref file or packed-refs. */
static int resolve_ref(const char *git_dir, const char *ref, char commit[41])
{
    char path[PATH_MAX * 2];
    char line[PATH_MAX];
    FILE *packed;
    int found = 0;

    if (format_path(path, sizeof(path), "%s/%s", git_dir, ref) && read_first_line(path, line, sizeof(line)) && is_commit_hash(line)) {
        memcpy(commit, line, 40);
        commit[40] = '\0';
        return 1;
    }

    packed = format_path(path, sizeof(path), "%s/%s", git_dir, "packed-refs") ? fopen(path, "r") : NULL;
    if (!packed)
        return 0;
    while (!found && fgets(line, sizeof(line), packed)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (is_commit_hash(line) && line[40] == ' ' && strcmp(line + 41, ref) == 0) {
            memcpy(commit, line, 40);
            commit[40] = '\0';
            found = 1;
        }
    }
    fclose(packed);
    return found;
}

int trk_git_info(const char *path, char commit[41], char branch[256])
{
    char dir[PATH_MAX];
    char git_dir[PATH_MAX];
    char common_dir[PATH_MAX];
    char head[PATH_MAX];
    char line[PATH_MAX];
    char line_common[PATH_MAX];
    char *slash;

    commit[0] = '\0';
    branch[0] = '\0';
    snprintf(dir, sizeof(dir), "%s", path);
    slash = strrchr(dir, '/');
    if (!slash)
        snprintf(dir, sizeof(dir), ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    if (!find_git_dir(dir, git_dir, sizeof(git_dir)))
        return 0;

    if (!format_path(head, sizeof(head), "%s/%s", git_dir, "HEAD") || !read_first_line(head, line, sizeof(line)))
        return 0;
    if (is_commit_hash(line)) {
        memcpy(commit, line, 40);
        commit[40] = '\0';
        return 1;
    }
    if (strncmp(line, "ref: ", 5) != 0)
        return 0;

    /* A worktree keeps its branches in the main repository ("commondir"). */
    if (format_path(head, sizeof(head), "%s/%s", git_dir, "commondir") &&
        read_first_line(head, line_common, sizeof(line_common))) {
        if (!(line_common[0] == '/' ? format_path(common_dir, sizeof(common_dir), "%s%s", "", line_common)
                                    : format_path(common_dir, sizeof(common_dir), "%s/%s", git_dir, line_common)))
            return 0;
    } else if (!format_path(common_dir, sizeof(common_dir), "%s%s", "", git_dir)) {
        return 0;
    }

    if (strncmp(line + 5, "refs/heads/", 11) == 0)
        if (!format_path(branch, 256, "%s%s", "", line + 16))
            branch[0] = '\0';
    return resolve_ref(git_dir, line + 5, commit) || resolve_ref(common_dir, line + 5, commit);
}
