/* The tracking journal (append-only JSON lines) and its acknowledgement log. */
#include "tracking/journal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "util/fsutil.h"

/* ---- growable text buffer ------------------------------------------------ */

void trk_buf_free(trk_buf *buf)
{
    advgnn_free(buf->data);
    memset(buf, 0, sizeof(*buf));
}

static int buf_reserve(trk_buf *buf, size_t extra)
{
    size_t need = buf->len + extra + 1;
    size_t cap = buf->cap ? buf->cap : 256;
    char *grown;

    if (buf->failed)
        return 0;
    if (need <= buf->cap)
        return 1;
    while (cap < need)
        cap *= 2;
    grown = advgnn_realloc(buf->data, cap);
    if (!grown) {
        buf->failed = 1;
        return 0;
    }
    buf->data = grown;
    buf->cap = cap;
    return 1;
}

void trk_buf_append(trk_buf *buf, const char *data, size_t len)
{
    if (!buf_reserve(buf, len))
        return;
    memcpy(buf->data + buf->len, data, len);
    buf->len += len;
    buf->data[buf->len] = '\0';
}

void trk_buf_puts(trk_buf *buf, const char *text)
{
    trk_buf_append(buf, text, strlen(text));
}

void trk_buf_printf(trk_buf *buf, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !buf_reserve(buf, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(buf->data + buf->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    buf->len += (size_t)n;
}

void trk_buf_json_string(trk_buf *buf, const char *text)
{
    const unsigned char *p = (const unsigned char *)text;
    const unsigned char *run;

    if (!text) {
        trk_buf_puts(buf, "null");
        return;
    }
    trk_buf_append(buf, "\"", 1);

    /* Copy runs of plain bytes at once; escape quotes, backslashes and control
     * characters. Bytes >= 0x80 pass through, so UTF-8 stays UTF-8. */
    run = p;
    for (; *p; p++) {
        char esc[8];

        if (*p >= 0x20 && *p != '"' && *p != '\\')
            continue;
        trk_buf_append(buf, (const char *)run, (size_t)(p - run));
        switch (*p) {
        case '"': trk_buf_append(buf, "\\\"", 2); break;
        case '\\': trk_buf_append(buf, "\\\\", 2); break;
        case '\n': trk_buf_append(buf, "\\n", 2); break;
        case '\r': trk_buf_append(buf, "\\r", 2); break;
        case '\t': trk_buf_append(buf, "\\t", 2); break;
        default:
            snprintf(esc, sizeof(esc), "\\u%04x", *p);
            trk_buf_append(buf, esc, 6);
        }
        run = p + 1;
    }
    trk_buf_append(buf, (const char *)run, (size_t)(p - run));
    trk_buf_append(buf, "\"", 1);
}

void trk_buf_json_double(trk_buf *buf, double value)
{
    if (isnan(value))
        trk_buf_puts(buf, "\"NaN\"");
    else if (isinf(value))
        trk_buf_puts(buf, value > 0 ? "\"Infinity\"" : "\"-Infinity\"");
    else
        trk_buf_printf(buf, "%.17g", value);
}

/* ---- small helpers -------------------------------------------------------- */

int64_t trk_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t trk_fnv1a(uint64_t hash, const void *data, size_t len)
{
    const unsigned char *p = data;

    for (size_t i = 0; i < len; i++) {
        hash ^= p[i];
        hash *= 0x100000001b3ull;
    }
    return hash;
}

void trk_random_id(char out[33])
{
    unsigned char bytes[16];
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    ssize_t got = fd >= 0 ? read(fd, bytes, sizeof(bytes)) : -1;

    if (fd >= 0)
        close(fd);
    if (got != (ssize_t)sizeof(bytes)) {
        struct timespec ts;
        uint64_t h;

        clock_gettime(CLOCK_REALTIME, &ts);
        h = trk_fnv1a(TRK_FNV_OFFSET, &ts, sizeof(ts));
        h = trk_fnv1a(h, &(pid_t){getpid()}, sizeof(pid_t));
        memcpy(bytes, &h, 8);
        h = trk_fnv1a(h, bytes, 8);
        memcpy(bytes + 8, &h, 8);
    }
    for (int i = 0; i < 16; i++)
        snprintf(out + 2 * i, 3, "%02x", bytes[i]);
}

/* ---- journal -------------------------------------------------------------- */

/* Cuts a partial last line left by a crash mid-write, so the next append
 * starts on a fresh line. Returns the size kept, or -1. */
static off_t trim_partial_line(int fd)
{
    struct stat st;
    off_t end;
    char c;

    if (fstat(fd, &st) != 0)
        return -1;
    end = st.st_size;
    while (end > 0) {
        if (pread(fd, &c, 1, end - 1) != 1)
            return -1;
        if (c == '\n')
            break;
        end--;
    }
    if (end != st.st_size && ftruncate(fd, end) != 0)
        return -1;
    return end;
}

/* Returns the seq of the last line of a journal, or -1 when it has none. */
static int visit_max_seq(void *user, char *line, size_t len)
{
    int64_t *max_seq = user;
    cJSON *record = cJSON_ParseWithLength(line, len);
    const cJSON *seq = cJSON_GetObjectItemCaseSensitive(record, "seq");

    if (cJSON_IsNumber(seq) && seq->valuedouble > (double)*max_seq)
        *max_seq = (int64_t)seq->valuedouble;
    cJSON_Delete(record);
    return 0;
}

int trk_journal_open(advgnn_ctx *ctx, const char *dir, trk_journal *journal)
{
    int64_t max_seq = -1;
    off_t kept;
    int fd;
    int rc;

    memset(journal, 0, sizeof(*journal));
    rc = advgnn_fs_mkdir_p(ctx, dir);
    if (rc != ADVGNN_OK)
        return rc;
    journal->path = advgnn_fs_join(dir, TRK_JOURNAL_FILE);
    if (!journal->path)
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory opening the tracking journal in %s", dir);

    fd = open(journal->path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = advgnn_failf(ctx, ADVGNN_ERR_IO, "cannot open tracking journal %s: %s", journal->path,
                          strerror(errno));
        trk_journal_close(journal);
        return rc;
    }
    kept = trim_partial_line(fd);
    if (kept < 0) {
        rc = advgnn_failf(ctx, ADVGNN_ERR_IO, "cannot repair tracking journal %s: %s", journal->path,
                          strerror(errno));
        close(fd);
        trk_journal_close(journal);
        return rc;
    }

    /* Continue the numbering of an existing journal (a resumed run). */
    if (kept > 0) {
        rc = trk_journal_read(ctx, journal->path, visit_max_seq, &max_seq);
        if (rc != ADVGNN_OK) {
            close(fd);
            trk_journal_close(journal);
            return rc;
        }
        journal->existed = max_seq >= 0;
    }
    journal->next_seq = (uint64_t)(max_seq + 1);

    journal->file = fdopen(fd, "a");
    if (!journal->file) {
        close(fd);
        trk_journal_close(journal);
        return advgnn_failf(ctx, ADVGNN_ERR_IO, "cannot open tracking journal %s: %s", dir, strerror(errno));
    }
    setvbuf(journal->file, NULL, _IOFBF, 1 << 16);
    return ADVGNN_OK;
}

int trk_journal_append(advgnn_ctx *ctx, trk_journal *journal, const char *line, size_t len)
{
    if (fwrite(line, 1, len, journal->file) != len || fputc('\n', journal->file) == EOF)
        return advgnn_failf(ctx, ADVGNN_ERR_IO, "cannot append to tracking journal %s: %s", journal->path,
                            strerror(errno));
    return ADVGNN_OK;
}

int trk_journal_sync(advgnn_ctx *ctx, trk_journal *journal)
{
    if (fflush(journal->file) != 0 || fsync(fileno(journal->file)) != 0)
        return advgnn_failf(ctx, ADVGNN_ERR_IO, "cannot write tracking journal %s to disk: %s", journal->path,
                            strerror(errno));
    return ADVGNN_OK;
}

void trk_journal_close(trk_journal *journal)
{
    if (journal->file)
        fclose(journal->file);
    advgnn_free(journal->path);
    memset(journal, 0, sizeof(*journal));
}

int trk_journal_read(advgnn_ctx *ctx, const char *path, int (*visit)(void *user, char *line, size_t len),
                     void *user)
{
    FILE *file = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int rc = ADVGNN_OK;

    if (!file)
        return advgnn_failf(ctx, errno == ENOENT ? ADVGNN_ERR_NOT_FOUND : ADVGNN_ERR_IO,
                            "cannot read tracking journal %s: %s", path, strerror(errno));

    /* getline allocates with malloc, so `line` is freed with free(). Only
     * complete lines count: a line without '\n' was cut by a crash. */
    while ((len = getline(&line, &cap, file)) > 0) {
        if (line[len - 1] != '\n')
            break;
        line[--len] = '\0';
        if (len == 0)
            continue;
        rc = visit(user, line, (size_t)len);
        if (rc != 0)
            break;
    }
    if (rc == 0 && ferror(file))
        rc = advgnn_failf(ctx, ADVGNN_ERR_IO, "cannot read tracking journal %s: %s", path, strerror(errno));
    free(line);
    fclose(file);
    return rc;
}

/* ---- acknowledgement log: state ------------------------------------------ */

/* Inserts [first, last] into a sorted list of disjoint ranges, merging
 * neighbours. Returns 0 when out of memory. */
static int range_insert(trk_range **ranges, size_t *count, size_t *cap, uint64_t first, uint64_t last)
{
    size_t lo = 0;
    size_t hi;

    /* Find the first range that ends at or after first - 1 (touching counts). */
    while (lo < *count && (*ranges)[lo].last + 1 < first)
        lo++;
    hi = lo;
    while (hi < *count && (*ranges)[hi].first <= last + 1) {
        if ((*ranges)[hi].first < first)
            first = (*ranges)[hi].first;
        if ((*ranges)[hi].last > last)
            last = (*ranges)[hi].last;
        hi++;
    }

    if (hi > lo) {
        /* Replace ranges lo..hi-1 with the merged one. */
        (*ranges)[lo].first = first;
        (*ranges)[lo].last = last;
        memmove(*ranges + lo + 1, *ranges + hi, (*count - hi) * sizeof(**ranges));
        *count -= hi - lo - 1;
        return 1;
    }
    if (*count == *cap) {
        size_t grown_cap = *cap ? *cap * 2 : 16;
        trk_range *grown = advgnn_realloc(*ranges, grown_cap * sizeof(**ranges));

        if (!grown)
            return 0;
        *ranges = grown;
        *cap = grown_cap;
    }
    memmove(*ranges + lo + 1, *ranges + lo, (*count - lo) * sizeof(**ranges));
    (*ranges)[lo].first = first;
    (*ranges)[lo].last = last;
    (*count)++;
    return 1;
}

static int range_contains(const trk_range *ranges, size_t count, uint64_t seq)
{
    size_t lo = 0;
    size_t hi = count;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (ranges[mid].last < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < count && ranges[lo].first <= seq;
}

int trk_acks_is_done(const trk_acks *acks, uint64_t seq)
{
    return range_contains(acks->done, acks->done_count, seq);
}

int trk_acks_in_open_intent(const trk_acks *acks, uint64_t seq)
{
    for (size_t i = 0; i < acks->intent_count; i++)
        if (acks->intents[i].first <= seq && seq <= acks->intents[i].last)
            return !trk_acks_is_done(acks, seq);
    return 0;
}

const trk_run_entry *trk_acks_find_run(const trk_acks *acks, const char *key)
{
    for (size_t i = 0; i < acks->run_count; i++)
        if (strcmp(acks->runs[i].key, key) == 0)
            return &acks->runs[i];
    return NULL;
}

static int remember_run(trk_acks *acks, const char *key, const char *run_id, const char *artifact_uri)
{
    trk_run_entry *grown;
    trk_run_entry *entry;

    grown = advgnn_realloc(acks->runs, (acks->run_count + 1) * sizeof(*grown));
    if (!grown)
        return 0;
    acks->runs = grown;
    entry = &acks->runs[acks->run_count];
    entry->key = advgnn_strdup(key);
    entry->run_id = advgnn_strdup(run_id);
    entry->artifact_uri = advgnn_strdup(artifact_uri ? artifact_uri : "");
    if (!entry->key || !entry->run_id || !entry->artifact_uri) {
        advgnn_free(entry->key);
        advgnn_free(entry->run_id);
        advgnn_free(entry->artifact_uri);
        return 0;
    }
    acks->run_count++;
    return 1;
}

static int read_range(const cJSON *array, uint64_t *first, uint64_t *last)
{
    const cJSON *a = cJSON_GetArrayItem(array, 0);
    const cJSON *b = cJSON_GetArrayItem(array, 1);

    if (!cJSON_IsNumber(a) || !cJSON_IsNumber(b) || a->valuedouble < 0 || b->valuedouble < a->valuedouble)
        return 0;
    *first = (uint64_t)a->valuedouble;
    *last = (uint64_t)b->valuedouble;
    return 1;
}

typedef struct intent_list {
    trk_range *items;
    size_t count;
    size_t cap;
} intent_list;

typedef struct acks_loader {
    trk_acks *acks;
    intent_list intents;
    int nomem;
} acks_loader;

static int visit_ack_line(void *user, char *line, size_t len)
{
    acks_loader *loader = user;
    trk_acks *acks = loader->acks;
    cJSON *item = cJSON_ParseWithLength(line, len);
    const cJSON *field;
    uint64_t first;
    uint64_t last;
    int ok = 1;

    /* Unparseable lines are skipped: a line cut by a crash is never an ack. */
    if (!item)
        return 0;
    if ((field = cJSON_GetObjectItemCaseSensitive(item, "ack")) && read_range(field, &first, &last)) {
        ok = range_insert(&acks->done, &acks->done_count, &acks->done_cap, first, last);
    } else if ((field = cJSON_GetObjectItemCaseSensitive(item, "intent")) && read_range(field, &first, &last)) {
        ok = range_insert(&loader->intents.items, &loader->intents.count, &loader->intents.cap, first, last);
    } else if (cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(item, "failed"))) {
        acks->failed_count++;
    } else if (cJSON_IsString(field = cJSON_GetObjectItemCaseSensitive(item, "experiment_id"))) {
        advgnn_free(acks->experiment_id);
        acks->experiment_id = advgnn_strdup(field->valuestring);
        ok = acks->experiment_id != NULL;
    } else if (cJSON_IsString(field = cJSON_GetObjectItemCaseSensitive(item, "run_id"))) {
        const cJSON *key = cJSON_GetObjectItemCaseSensitive(item, "run");
        const cJSON *uri = cJSON_GetObjectItemCaseSensitive(item, "artifact_uri");

        if (cJSON_IsString(key) && !trk_acks_find_run(acks, key->valuestring))
            ok = remember_run(acks, key->valuestring, field->valuestring,
                              cJSON_IsString(uri) ? uri->valuestring : "");
    }
    cJSON_Delete(item);
    if (!ok)
        loader->nomem = 1;
    return ok ? 0 : 1;
}

static int write_line(advgnn_ctx *ctx, trk_acks *acks, const trk_buf *line, int durable)
{
    size_t off = 0;

    if (line->failed)
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory writing %s", acks->path);

    /* One write(2) per line with O_APPEND, so a killed process leaves whole
     * lines or a cut last line, which the loader skips. */
    while (off < line->len) {
        ssize_t n = write(acks->fd, line->data + off, line->len - off);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return advgnn_failf(ctx, ADVGNN_ERR_IO, "cannot write %s: %s", acks->path, strerror(errno));
        off += (size_t)n;
    }
    if (durable && fdatasync(acks->fd) != 0)
        return advgnn_failf(ctx, ADVGNN_ERR_IO, "cannot write %s to disk: %s", acks->path, strerror(errno));
    return ADVGNN_OK;
}

int trk_acks_open(advgnn_ctx *ctx, const char *dir, const char *display_uri, trk_acks *acks)
{
    acks_loader loader = {acks, {NULL, 0, 0}, 0};
    char name[64];
    struct stat st;
    int rc;

    memset(acks, 0, sizeof(*acks));
    acks->fd = -1;
    rc = advgnn_fs_mkdir_p(ctx, dir);
    if (rc != ADVGNN_OK)
        return rc;
    snprintf(name, sizeof(name), "acks-%016" PRIx64 ".jsonl",
             trk_fnv1a(TRK_FNV_OFFSET, display_uri, strlen(display_uri)));
    acks->path = advgnn_fs_join(dir, name);
    if (!acks->path)
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory opening the acknowledgement log in %s", dir);

    /* Load what an earlier process recorded. */
    if (stat(acks->path, &st) == 0) {
        rc = trk_journal_read(ctx, acks->path, visit_ack_line, &loader);
        if (rc != ADVGNN_OK || loader.nomem) {
            advgnn_free(loader.intents.items);
            trk_acks_close(acks);
            return rc != ADVGNN_OK && !loader.nomem
                       ? rc
                       : advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory loading %s", acks->path);
        }
    }

    /* Keep only intents that some record inside never got an ack for. */
    for (size_t i = 0; i < loader.intents.count; i++) {
        trk_range r = loader.intents.items[i];
        int open_seq = 0;

        for (uint64_t s = r.first; s <= r.last && !open_seq; s++)
            open_seq = !trk_acks_is_done(acks, s);
        if (open_seq)
            loader.intents.items[acks->intent_count++] = r;
    }
    acks->intents = loader.intents.items;

    acks->fd = open(acks->path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (acks->fd < 0) {
        rc = advgnn_failf(ctx, ADVGNN_ERR_IO, "cannot open %s: %s", acks->path, strerror(errno));
        trk_acks_close(acks);
        return rc;
    }
    if (trim_partial_line(acks->fd) < 0) {
        rc = advgnn_failf(ctx, ADVGNN_ERR_IO, "cannot repair %s: %s", acks->path, strerror(errno));
        trk_acks_close(acks);
        return rc;
    }

    /* A new log names its server for people reading the folder. */
    if (fstat(acks->fd, &st) == 0 && st.st_size == 0) {
        trk_buf line = {0};

        trk_buf_puts(&line, "{\"target\":");
        trk_buf_json_string(&line, display_uri);
        trk_buf_puts(&line, "}\n");
        rc = write_line(ctx, acks, &line, 1);
        trk_buf_free(&line);
        if (rc != ADVGNN_OK) {
            trk_acks_close(acks);
            return rc;
        }
    }
    return ADVGNN_OK;
}

void trk_acks_close(trk_acks *acks)
{
    if (acks->fd >= 0)
        close(acks->fd);
    for (size_t i = 0; i < acks->run_count; i++) {
        advgnn_free(acks->runs[i].key);
        advgnn_free(acks->runs[i].run_id);
        advgnn_free(acks->runs[i].artifact_uri);
    }
    advgnn_free(acks->runs);
    advgnn_free(acks->done);
    advgnn_free(acks->intents);
    advgnn_free(acks->experiment_id);
    advgnn_free(acks->path);
    memset(acks, 0, sizeof(*acks));
    acks->fd = -1;
}

/* ---- acknowledgement log: writers ---------------------------------------- */

int trk_acks_write_live_run(advgnn_ctx *ctx, trk_acks *acks)
{
    trk_buf line = {0};
    int rc;

    trk_buf_puts(&line, "{\"live_run\":true}\n");
    rc = write_line(ctx, acks, &line, 0);
    trk_buf_free(&line);
    return rc;
}

int trk_acks_write_intent(advgnn_ctx *ctx, trk_acks *acks, uint64_t first, uint64_t last)
{
    trk_buf line = {0};
    int rc;

    trk_buf_printf(&line, "{\"intent\":[%" PRIu64 ",%" PRIu64 "]}\n", first, last);
    rc = write_line(ctx, acks, &line, 0);
    trk_buf_free(&line);
    return rc;
}

int trk_acks_write_ack(advgnn_ctx *ctx, trk_acks *acks, uint64_t first, uint64_t last)
{
    trk_buf line = {0};
    int rc;

    trk_buf_printf(&line, "{\"ack\":[%" PRIu64 ",%" PRIu64 "]}\n", first, last);
    rc = write_line(ctx, acks, &line, 1);
    trk_buf_free(&line);
    if (rc != ADVGNN_OK)
        return rc;
    if (!range_insert(&acks->done, &acks->done_count, &acks->done_cap, first, last))
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory recording acknowledgements");
    return ADVGNN_OK;
}

int trk_acks_write_failed(advgnn_ctx *ctx, trk_acks *acks, uint64_t seq, long http_status, const char *message)
{
    trk_buf line = {0};
    int rc;

    trk_buf_printf(&line, "{\"failed\":%" PRIu64 ",\"http_status\":%ld,\"error\":", seq, http_status);
    trk_buf_json_string(&line, message);
    trk_buf_puts(&line, "}\n");
    rc = write_line(ctx, acks, &line, 0);
    trk_buf_free(&line);
    if (rc == ADVGNN_OK)
        acks->failed_count++;
    return rc;
}

int trk_acks_write_run(advgnn_ctx *ctx, trk_acks *acks, const char *key, const char *run_id,
                       const char *artifact_uri)
{
    trk_buf line = {0};
    int rc;

    trk_buf_puts(&line, "{\"run\":");
    trk_buf_json_string(&line, key);
    trk_buf_puts(&line, ",\"run_id\":");
    trk_buf_json_string(&line, run_id);
    trk_buf_puts(&line, ",\"artifact_uri\":");
    trk_buf_json_string(&line, artifact_uri ? artifact_uri : "");
    trk_buf_puts(&line, "}\n");
    rc = write_line(ctx, acks, &line, 1);
    trk_buf_free(&line);
    if (rc != ADVGNN_OK)
        return rc;
    if (!trk_acks_find_run(acks, key) && !remember_run(acks, key, run_id, artifact_uri))
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory recording run %s", key);
    return ADVGNN_OK;
}

int trk_acks_write_experiment(advgnn_ctx *ctx, trk_acks *acks, const char *experiment_id)
{
    trk_buf line = {0};
    int rc;

    trk_buf_puts(&line, "{\"experiment_id\":");
    trk_buf_json_string(&line, experiment_id);
    trk_buf_puts(&line, "}\n");
    rc = write_line(ctx, acks, &line, 1);
    trk_buf_free(&line);
    if (rc != ADVGNN_OK)
        return rc;
    advgnn_free(acks->experiment_id);
    acks->experiment_id = advgnn_strdup(experiment_id);
    if (!acks->experiment_id)
        return advgnn_failf(ctx, ADVGNN_ERR_NOMEM, "out of memory recording the experiment id");
    return ADVGNN_OK;
}
