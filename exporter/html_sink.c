/*
 * The HTML sink (html_sink.h): renders each run's page in the calling run
 * processor, writes it to a temporary file and renames it into place, then,
 * under the sink's lock, records the run, deletes the oldest pages beyond
 * the cap and rewrites index.html the same atomic way. Readers of the
 * directory (a browser, a web server) never see a half-written file.
 */
#include "html_sink.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "clock.h"
#include "json_write.h"
#include "log.h"
#include "profile_types.h"
#include "render.h"

/* "20261201T075148.123Z-" + 32 hex digits + ".html" */
#define PAGE_NAME_LEN (21 + 32 + 5)
#define PAGE_MAX_BYTES ((size_t)256 << 20)
#define INDEX_NAME "index.html"

/* One page in the directory, as the index lists it. */
typedef struct page_entry {
    char name[PAGE_NAME_LEN + 1];
    char *dag_id; /* NULL for a page found at start whose head has no figures */
    double wall_ms;
    double cost_usd;
    bool cost_known;
    bool partial;
} page_entry;

typedef struct html_sink {
    dp_sink base; /* first: a dp_sink * is an html_sink * */
    char *dir;
    size_t max_files;
    bool index_at_flush; /* index.html only at flush (inputs that end) */
    bool index_stale;    /* pages changed since index.html was written */
    pthread_mutex_t lock;
    page_entry *pages; /* sorted by name = by start time, oldest first */
    size_t count, cap;
    atomic_ulong temp_seq;
    atomic_ullong written, failed;
} html_sink;

static bool is_page_name(const char *n)
{
    if (strlen(n) != PAGE_NAME_LEN || n[8] != 'T' || n[15] != '.' || n[19] != 'Z' || n[20] != '-' ||
        strcmp(n + PAGE_NAME_LEN - 5, ".html") != 0)
        return false;
    for (size_t i = 0; i < 21 + 32; i++) {
        if (i == 8 || i == 15 || i == 19 || i == 20)
            continue;
        char c = n[i];
        if (!((c >= '0' && c <= '9') || (i > 20 && c >= 'a' && c <= 'f')))
            return false;
    }
    return true;
}

static void page_name(const dp_run_profile *p, char out[PAGE_NAME_LEN + 1])
{
    time_t secs = (time_t)(p->start_ns / 1000000000u);
    struct tm tm;
    char when[20] = "19700101T000000";
    if (gmtime_r(&secs, &tm))
        strftime(when, sizeof(when), "%Y%m%dT%H%M%S", &tm);
    char trace[33];
    dp_hex(p->trace_id, 16, trace);
    snprintf(out, PAGE_NAME_LEN + 1, "%.15s.%03uZ-%s.html", when,
             (unsigned)(p->start_ns / 1000000u % 1000u), trace);
}

/* Write data to dir/name through a temporary file and rename(). 0 or -1 (errno kept). */
static int write_atomically(html_sink *s, const char *name, const char *data, size_t len)
{
    char tmp[4096], final[4096];
    unsigned long seq = atomic_fetch_add(&s->temp_seq, 1);
    if (snprintf(tmp, sizeof(tmp), "%s/.tmp-%ld-%lu.html", s->dir, (long)getpid(), seq) >=
            (int)sizeof(tmp) ||
        snprintf(final, sizeof(final), "%s/%s", s->dir, name) >= (int)sizeof(final)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(fd, data + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        done += (size_t)n;
    }
    int saved = errno;
    if (close(fd) != 0 && done == len)
        saved = errno, done = 0;
    if (done != len || rename(tmp, final) != 0) {
        if (done == len)
            saved = errno;
        unlink(tmp);
        errno = saved ? saved : EIO;
        return -1;
    }
    return 0;
}

/* One line of the index; 0, or -1 when an append failed. */
static int index_row(dp_buf *b, const page_entry *e)
{
    int bad = 0;
    const char *n = e->name;
    char num[DP_JSON_NUMBER_MAX];
    /* the date, from the name: YYYYMMDDTHHMMSS.mmmZ */
    bad |=
        dp_buf_printf(b, "<tr><td>%.4s-%.2s-%.2s %.2s:%.2s:%.2s.%.3s UTC</td><td class=\"dag-id\">",
                      n, n + 4, n + 6, n + 9, n + 11, n + 13, n + 16);
    if (e->dag_id)
        bad |= dp_html_escape(b, e->dag_id, strlen(e->dag_id));
    else
        bad |= dp_buf_puts(b, "<small>(earlier page)</small>");
    bad |= dp_buf_puts(b, "</td><td class=\"n wall\">");
    if (e->dag_id) {
        dp_json_format_double(num, e->wall_ms, 3); /* the JSON report's rounding */
        bad |= dp_buf_printf(b, "%s ms", num);
    }
    bad |= dp_buf_puts(b, "</td><td class=\"n cost\">");
    if (e->dag_id && e->cost_known) {
        dp_json_format_double(num, e->cost_usd, 8);
        bad |= dp_buf_printf(b, "$%s", num);
    } else if (e->dag_id) {
        bad |= dp_buf_puts(b, "unknown");
    }
    /* the name is ours (checked by is_page_name or built by page_name) */
    bad |= dp_buf_printf(b, "</td><td><a href=\"%s\">%.32s</a>%s</td></tr>\n", n, n + 21,
                         e->partial ? " <small>(partial)</small>" : "");
    return bad ? -1 : 0;
}

/* index.html, newest first. Called with the lock held. */
static int write_index(html_sink *s)
{
    dp_buf b;
    dp_buf_init(&b, PAGE_MAX_BYTES);
    int rc = dp_render_html_begin("recent runs", &b);
    rc |=
        dp_buf_printf(&b,
                      "<h2>Recent runs</h2><p class=\"meta\">%zu run page(s), at most %zu kept, "
                      "newest first.</p><table class=\"runs\"><thead><tr><th>start</th><th>DAG "
                      "id</th><th class=\"n\">wall</th><th class=\"n\">cost</th><th>trace</th></tr>"
                      "</thead><tbody>\n",
                      s->count, s->max_files);
    for (size_t i = s->count; i-- > 0;)
        rc |= index_row(&b, &s->pages[i]);
    rc |= dp_buf_puts(&b, "</tbody></table>\n");
    rc |= dp_render_html_end(&b);
    if (rc == 0)
        rc = write_atomically(s, INDEX_NAME, b.data, b.len);
    dp_buf_free(&b);
    return rc;
}

/* index.html again when pages changed. Called with the lock held. 0 or -1 (logged). */
static int refresh_index(html_sink *s)
{
    if (!s->index_stale)
        return 0;
    if (write_index(s) != 0) {
        dp_log_warn("html", "cannot write %s/" INDEX_NAME ": %s", s->dir, strerror(errno));
        return -1;
    }
    s->index_stale = false;
    return 0;
}

/* The entry for name: found, or inserted in order. NULL on out of memory. */
static page_entry *page_slot(html_sink *s, const char *name)
{
    size_t lo = 0, hi = s->count;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(s->pages[mid].name, name);
        if (c == 0)
            return &s->pages[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (s->count == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        page_entry *p = realloc(s->pages, cap * sizeof(*p));
        if (!p)
            return NULL;
        s->pages = p;
        s->cap = cap;
    }
    memmove(&s->pages[lo + 1], &s->pages[lo], (s->count - lo) * sizeof(*s->pages));
    s->count++;
    page_entry *e = &s->pages[lo];
    memset(e, 0, sizeof(*e));
    snprintf(e->name, sizeof(e->name), "%s", name);
    return e;
}

/* Delete page i and its entry. Called with the lock held. */
static void drop_page(html_sink *s, size_t i)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", s->dir, s->pages[i].name);
    if (unlink(path) != 0 && errno != ENOENT)
        dp_log_warn("html", "cannot delete the report %s: %s", path, strerror(errno));
    free(s->pages[i].dag_id);
    memmove(&s->pages[i], &s->pages[i + 1], (s->count - i - 1) * sizeof(*s->pages));
    s->count--;
}

/* A whole run replaces its partial report's page even when it starts
 * earlier (its root came with the rest): other pages of its trace id go.
 * Called with the lock held. */
static void drop_partial_pages(html_sink *s, const char *name)
{
    for (size_t i = s->count; i-- > 0;) {
        if (strcmp(s->pages[i].name + 21, name + 21) == 0 && strcmp(s->pages[i].name, name) != 0)
            drop_page(s, i);
    }
}

/* Delete the oldest pages beyond max_files. Called with the lock held. */
static void rotate(html_sink *s)
{
    while (s->count > s->max_files)
        drop_page(s, 0);
}

static int html_on_run(dp_sink *sink, const dp_run_record *run, const dp_run_profile *p)
{
    (void)run;
    html_sink *s = (html_sink *)sink;
    int rc = -1;
    char name[PAGE_NAME_LEN + 1];
    dp_buf b;
    dp_buf_init(&b, PAGE_MAX_BYTES);
    page_name(p, name);
    if (dp_render_html(p, &b) != 0) {
        dp_log_error("html", "cannot render the HTML report of run %.32s: out of memory",
                     name + 21);
        goto out;
    }
    if (write_atomically(s, name, b.data, b.len) != 0) {
        dp_log_error("html", "cannot write %s/%s: %s", s->dir, name, strerror(errno));
        goto out;
    }
    rc = 0;
    pthread_mutex_lock(&s->lock);
    page_entry *e = page_slot(s, name);
    char *dag = strdup(p->dag_id ? p->dag_id : "unknown");
    if (e && dag) {
        free(e->dag_id);
        e->dag_id = dag;
        e->wall_ms = p->wall_ms;
        e->cost_usd = p->cost_usd;
        e->cost_known = p->cost_any_known || p->unknown_cost_calls == 0;
        e->partial = p->partial;
    } else {
        free(dag); /* the page is written; only its line in the index lacks figures */
        dp_log_warn("html", "out of memory recording %s in the index", name);
    }
    if (p->supersedes)
        drop_partial_pages(s, name);
    rotate(s);
    s->index_stale = true;
    if (!s->index_at_flush)
        refresh_index(s);
    pthread_mutex_unlock(&s->lock);
out:
    dp_buf_free(&b);
    atomic_fetch_add(rc == 0 ? &s->written : &s->failed, 1);
    return rc;
}

static int html_flush(dp_sink *sink)
{
    html_sink *s = (html_sink *)sink;
    pthread_mutex_lock(&s->lock);
    int rc = refresh_index(s);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

static void html_destroy(dp_sink *sink)
{
    html_sink *s = (html_sink *)sink;
    if (!s)
        return;
    for (size_t i = 0; i < s->count; i++)
        free(s->pages[i].dag_id);
    free(s->pages);
    free(s->dir);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

static const dp_sink_ops html_ops = {html_on_run, html_flush, html_destroy};

/* The content of <meta name="dagprof:NAME" content="..."> in head, with the
 * escaping of dp_html_escape() undone; false when absent. */
static bool meta_value(const char *head, const char *name, char *out, size_t cap)
{
    char key[64];
    snprintf(key, sizeof(key), "<meta name=\"dagprof:%s\" content=\"", name);
    const char *v = strstr(head, key);
    if (!v || !cap)
        return false;
    static const struct {
        const char *entity, c;
    } refs[] = {{"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&#39;", '\''}};
    size_t n = 0;
    for (v += strlen(key); *v && *v != '"' && n + 1 < cap;) {
        char c = *v;
        size_t len = 1;
        for (size_t r = 0; c == '&' && r < sizeof(refs) / sizeof(refs[0]); r++) {
            if (strncmp(v, refs[r].entity, strlen(refs[r].entity)) == 0) {
                c = refs[r].c;
                len = strlen(refs[r].entity);
                break;
            }
        }
        out[n++] = c;
        v += len;
    }
    out[n] = '\0';
    return *v == '"';
}

/* A page written by an earlier dagprof: its figures from its head, when it has them. */
static void read_page_figures(html_sink *s, page_entry *e)
{
    char path[4096], head[8192], dag[1024], wall[64], cost[64], partial[8];
    snprintf(path, sizeof(path), "%s/%s", s->dir, e->name);
    FILE *f = fopen(path, "rb");
    if (!f)
        return;
    size_t n = fread(head, 1, sizeof(head) - 1, f);
    fclose(f);
    head[n] = '\0';
    char *end = strstr(head, "</head>");
    if (end)
        *end = '\0';
    if (!meta_value(head, "dag-id", dag, sizeof(dag)) ||
        !meta_value(head, "wall-ms", wall, sizeof(wall)) ||
        !meta_value(head, "cost-usd", cost, sizeof(cost)) || !(e->dag_id = strdup(dag)))
        return;
    e->wall_ms = strtod(wall, NULL);
    e->cost_known = strcmp(cost, "unknown") != 0;
    e->cost_usd = e->cost_known ? strtod(cost, NULL) : 0;
    e->partial = meta_value(head, "partial", partial, sizeof(partial)) && partial[0] == '1';
}

/* Pages left by an earlier run of dagprof count towards the cap. */
static int scan_existing(html_sink *s, char *err, size_t errlen)
{
    DIR *d = opendir(s->dir);
    if (!d) {
        snprintf(err, errlen, "cannot read the HTML report directory %s: %s", s->dir,
                 strerror(errno));
        return -1;
    }
    struct dirent *de;
    int rc = 0;
    while ((de = readdir(d)) != NULL) {
        if (!is_page_name(de->d_name))
            continue;
        page_entry *e = page_slot(s, de->d_name);
        if (!e) {
            snprintf(err, errlen, "out of memory reading %s", s->dir);
            rc = -1;
            break;
        }
        read_page_figures(s, e);
    }
    closedir(d);
    return rc;
}

dp_sink *dp_html_sink_create(const char *dir, size_t max_files, bool index_at_flush, char *err,
                             size_t errlen)
{
    if (!dir || !dir[0] || max_files == 0) {
        snprintf(err, errlen, "the HTML report directory is not set");
        return NULL;
    }
    html_sink *s = calloc(1, sizeof(*s));
    if (!s || !(s->dir = strdup(dir))) {
        snprintf(err, errlen, "out of memory");
        free(s);
        return NULL;
    }
    s->base.ops = &html_ops;
    s->max_files = max_files;
    s->index_at_flush = index_at_flush;
    pthread_mutex_init(&s->lock, NULL);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create the HTML report directory %s: %s", dir,
                 strerror(errno));
        goto fail;
    }
    if (scan_existing(s, err, errlen) != 0)
        goto fail;
    return &s->base;
fail:
    html_destroy(&s->base);
    return NULL;
}

void dp_html_sink_counts(dp_sink *sink, unsigned long long *written, unsigned long long *failed)
{
    html_sink *s = (html_sink *)sink;
    *written = atomic_load(&s->written);
    *failed = atomic_load(&s->failed);
}
