/*
 * The HTML sink on a real directory: one page per run named by start time
 * and trace id, index.html newest first with the DAG id, wall and cost,
 * the oldest pages deleted beyond the cap (pages found at start count),
 * a whole run replacing its partial page, no temporary file left, and a
 * directory that cannot be made refused with a message.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "html_sink.h"
#include "profile_types.h"

static char dir[64];

static void make_dir(void)
{
    snprintf(dir, sizeof(dir), "/tmp/dp_html_sink_XXXXXX");
    assert_non_null(mkdtemp(dir));
}

static void remove_dir(void)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        char path[512];
        if (de->d_name[0] == '.' && (!de->d_name[1] || de->d_name[1] == '.'))
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        unlink(path);
    }
    if (d)
        closedir(d);
    rmdir(dir);
}

/* A run starting at 2023-11-14 22:13:20 UTC + `second` s, trace id bytes = `id`. */
static void run_profile(dp_run_profile *p, unsigned second, uint8_t id, const char *dag)
{
    memset(p, 0, sizeof(*p));
    memset(p->trace_id, id, 16);
    p->start_ns = (1700000000ull + second) * 1000000000ull;
    p->dag_id = dag;
    p->wall_ms = 1500.25;
    p->cost_usd = 0.0123;
    p->cost_any_known = true;
    p->cost_complete = true;
    p->speedup_if_independent = -1;
}

static bool exists(const char *name)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return access(path, F_OK) == 0;
}

static char *slurp(const char *name)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static char text[1 << 16];
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    text[n] = '\0';
    fclose(f);
    return text;
}

static size_t entries(void)
{
    size_t n = 0;
    DIR *d = opendir(dir);
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        n += de->d_name[0] != '.' || (de->d_name[1] && de->d_name[1] != '.');
    closedir(d);
    return n;
}

#define PAGE_A "20231114T221320.000Z-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.html"
#define PAGE_B "20231114T221321.000Z-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb.html"
#define PAGE_C "20231114T221322.000Z-cccccccccccccccccccccccccccccccc.html"

static void test_pages_index_rotation(void **state)
{
    (void)state;
    make_dir();
    char err[256];
    dp_sink *s = dp_html_sink_create(dir, 2, false, err, sizeof(err));
    assert_non_null(s);
    dp_run_profile p;

    run_profile(&p, 0, 0xaa, "first <dag>");
    p.partial = true;
    assert_int_equal(dp_sink_on_run(s, NULL, &p), 0);
    assert_true(exists(PAGE_A));
    assert_non_null(strstr(slurp("index.html"), "(partial)"));
    /* the whole run replaces its partial page: one page, no longer partial */
    p.partial = false;
    p.wall_ms = 2000;
    assert_int_equal(dp_sink_on_run(s, NULL, &p), 0);
    char *index = slurp("index.html");
    assert_null(strstr(index, "(partial)"));
    assert_non_null(strstr(index, "2000.0 ms"));
    assert_non_null(strstr(index, "first &lt;dag&gt;"));
    assert_non_null(strstr(slurp(PAGE_A), "<b>2000.0 ms</b>"));
    assert_int_equal(entries(), 2); /* the page and the index, no temporary file */

    run_profile(&p, 2, 0xcc, "third");
    assert_int_equal(dp_sink_on_run(s, NULL, &p), 0);
    run_profile(&p, 1, 0xbb, "second");
    assert_int_equal(dp_sink_on_run(s, NULL, &p), 0);
    /* three runs, two kept: the one that started first is gone */
    assert_false(exists(PAGE_A));
    assert_true(exists(PAGE_B));
    assert_true(exists(PAGE_C));
    assert_int_equal(entries(), 3);
    index = slurp("index.html");
    assert_null(strstr(index, "first &lt;dag"));
    /* newest first, with the date, wall (1500.25 ms) and cost ($0.0123) */
    char *third = strstr(index, "third"), *second = strstr(index, "second");
    assert_non_null(third);
    assert_non_null(second);
    assert_true(third < second);
    assert_non_null(strstr(index, "2023-11-14 22:13:22.000 UTC"));
    assert_non_null(strstr(index, "1500.25 ms"));
    assert_non_null(strstr(index, "$0.0123"));
    assert_non_null(strstr(index, "href=\"" PAGE_C "\""));
    unsigned long long written, failed;
    dp_html_sink_counts(s, &written, &failed);
    assert_int_equal(written, 4);
    assert_int_equal(failed, 0);
    dp_sink_destroy(s);

    /* a new sink counts the pages already there: one more run drops B */
    s = dp_html_sink_create(dir, 2, false, err, sizeof(err));
    assert_non_null(s);
    run_profile(&p, 3, 0xdd, "fo\"u'r&<th>");
    assert_int_equal(dp_sink_on_run(s, NULL, &p), 0);
    assert_false(exists(PAGE_B));
    assert_true(exists(PAGE_C));
    index = slurp("index.html");
    assert_non_null(strstr(index, "fo&quot;u&#39;r&amp;&lt;th&gt;"));
    /* C, found at start, listed with the figures of its page's head */
    assert_null(strstr(index, "(earlier page)"));
    assert_non_null(strstr(index, "<td class=\"dag-id\">third</td>"));
    assert_non_null(strstr(index, "1500.25 ms"));
    dp_sink_destroy(s);

    /* after one more restart the name read back from D's head is escaped once, not
     * twice; a page without figures (not written by dagprof) is listed by date */
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, PAGE_B);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("<html>by hand</html>", f);
    fclose(f);
    s = dp_html_sink_create(dir, 5, false, err, sizeof(err));
    assert_non_null(s);
    run_profile(&p, 4, 0xee, "fifth");
    assert_int_equal(dp_sink_on_run(s, NULL, &p), 0);
    index = slurp("index.html");
    assert_non_null(strstr(index, "<td class=\"dag-id\">fo&quot;u&#39;r&amp;&lt;th&gt;</td>"));
    assert_non_null(strstr(index, "<td class=\"dag-id\"><small>(earlier page)</small></td>"));
    assert_non_null(strstr(index, "4 run page(s)")); /* B, C, D, E */
    dp_sink_destroy(s);
    remove_dir();
}

/* The whole run of a partial report can start earlier (its root came with
 * the rest): its page replaces the partial one all the same. */
static void test_whole_run_replaces_partial_page(void **state)
{
    (void)state;
    make_dir();
    char err[256];
    dp_sink *s = dp_html_sink_create(dir, 10, false, err, sizeof(err));
    assert_non_null(s);
    dp_run_profile p;
    run_profile(&p, 5, 0x99, "other");
    assert_int_equal(dp_sink_on_run(s, NULL, &p), 0);
    run_profile(&p, 10, 0x77, "grows");
    p.partial = true;
    assert_int_equal(dp_sink_on_run(s, NULL, &p), 0);
    assert_true(exists("20231114T221330.000Z-77777777777777777777777777777777.html"));
    run_profile(&p, 9, 0x77, "grows");
    p.supersedes = true;
    assert_int_equal(dp_sink_on_run(s, NULL, &p), 0);
    assert_false(exists("20231114T221330.000Z-77777777777777777777777777777777.html"));
    assert_true(exists("20231114T221329.000Z-77777777777777777777777777777777.html"));
    assert_true(exists("20231114T221325.000Z-99999999999999999999999999999999.html"));
    assert_int_equal(entries(), 3);
    char *index = slurp("index.html");
    assert_null(strstr(index, "(partial)"));
    assert_non_null(strstr(index, "2 run page(s)"));
    dp_sink_destroy(s);
    remove_dir();
}

/* For inputs that end: pages as runs come, index.html once, at flush. */
static void test_index_at_flush(void **state)
{
    (void)state;
    make_dir();
    char err[256];
    dp_sink *s = dp_html_sink_create(dir, 10, true, err, sizeof(err));
    assert_non_null(s);
    dp_run_profile p;
    run_profile(&p, 0, 0xaa, "one");
    assert_int_equal(dp_sink_on_run(s, NULL, &p), 0);
    run_profile(&p, 1, 0xbb, "two");
    assert_int_equal(dp_sink_on_run(s, NULL, &p), 0);
    assert_true(exists(PAGE_A));
    assert_true(exists(PAGE_B));
    assert_false(exists("index.html"));
    assert_int_equal(dp_sink_flush(s), 0);
    char *index = slurp("index.html");
    assert_non_null(strstr(index, "2 run page(s)"));
    assert_true(strstr(index, ">two<") < strstr(index, ">one<"));
    dp_sink_destroy(s);
    remove_dir();
}

static void test_bad_directory(void **state)
{
    (void)state;
    char err[256] = "";
    assert_null(
        dp_html_sink_create("/nonexistent-dagprof-parent/html", 10, false, err, sizeof(err)));
    assert_non_null(strstr(err, "cannot create the HTML report directory"));
    assert_null(dp_html_sink_create("", 10, false, err, sizeof(err)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pages_index_rotation),
        cmocka_unit_test(test_whole_run_replaces_partial_page),
        cmocka_unit_test(test_index_at_flush),
        cmocka_unit_test(test_bad_directory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
