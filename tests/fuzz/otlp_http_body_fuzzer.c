/*
 * Fuzz target for the OTLP/HTTP receiver's body path (otlp/http_receiver.c,
 * included here so its static functions run as they are): a request
 * context from the pool, the body taken piece by piece (inflated with the
 * size cap when gzip), then finish(): OTLP/JSON encoded to protobuf, the
 * request ingested into a fresh trace table, and the answer encoded (the
 * libmicrohttpd connection is absent, so nothing is sent).
 * The first byte chooses the signal, JSON or protobuf, gzip or not, and the
 * size of the pieces; the second, the size of a plain body an earlier
 * request left in the pooled context's buffer (none, or 1 byte .. 64 KiB);
 * the rest is the body.
 * Checks: the body kept is the input, or what zlib inflates from it in one
 * call; a body over the cap is 413 and bad or truncated gzip is 400, decided
 * before finish(); exactly one answer is counted; an error answer is a
 * google.rpc.Status holding the message (protobuf), any answer in JSON
 * parses as a JSON object; every span the ingest counts as accepted is in
 * the table (all its runs are finalised and taken after each input, so
 * the table is empty again for the next).
 */
#include "../../otlp/http_receiver.c"

#include <jansson.h>

#include "upstream_status.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Small enough that a small gzip input can inflate past it. */
#define FUZZ_CAP (64u * 1024)

static dp_trace_table *table;

static dp_http_receiver *receiver(void)
{
    static dp_http_receiver r;
    static bool ready;
    if (!ready) {
        dp_log_set_level_name("error");
        dp_trace_table_options to;
        dp_trace_table_options_defaults(&to);
        to.shards = 1;
        to.late_window_ms = 0; /* nothing remembered from one input to the next */
        table = dp_trace_table_create(&to);
        dp_ingest_options io = {.table = table};
        r.opt.ingest = table ? dp_ingest_create(&io) : NULL;
        if (!r.opt.ingest)
            abort();
        r.opt.max_recv_message_bytes = FUZZ_CAP;
        r.opt.retry_after_s = 1;
        r.listen_fd = -1;
        pthread_mutex_init(&r.pool_lock, NULL);
        ready = true;
    }
    return &r;
}

/* Every run of the table, finalised and taken: the spans it held. */
static uint64_t drain(dp_trace_table *t)
{
    uint64_t spans = 0;
    dp_run_record *run;
    dp_trace_table_finalise_all(t);
    while (dp_trace_table_take(t, 0, &run) == DP_TRACE_TABLE_OK) {
        spans += run->span_count;
        dp_trace_table_release(t, run);
    }
    return spans;
}

/* What the body should come to, by zlib in one call per member: 0 and *out
 * (ownership passes), 400 (not gzip, truncated, or not gzip after a member), 413 (over the
 * cap), -1 (zlib out of memory: no verdict). */
static int expected_gzip(const uint8_t *in, size_t len, uint8_t **out, size_t *out_len)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    uint8_t *buf = malloc(FUZZ_CAP + 1);
    if (!buf || inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) {
        free(buf);
        return -1;
    }
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)len;
    z.next_out = buf;
    z.avail_out = FUZZ_CAP + 1;
    /* gzip members one after the other, as gunzip reads them: more bytes
     * after a member's end start the next one */
    int zr;
    size_t got;
    for (;;) {
        zr = inflate(&z, Z_NO_FLUSH);
        while (zr == Z_OK && z.avail_in > 0 && z.avail_out > 0)
            zr = inflate(&z, Z_NO_FLUSH);
        got = FUZZ_CAP + 1 - z.avail_out;
        if (zr != Z_STREAM_END || z.avail_in == 0 || got > FUZZ_CAP)
            break;
        if (inflateReset(&z) != Z_OK) {
            zr = Z_MEM_ERROR;
            break;
        }
    }
    int verdict;
    if (got > FUZZ_CAP)
        verdict = 413;
    else if (zr == Z_STREAM_END)
        verdict = 0;
    else if (zr == Z_MEM_ERROR)
        verdict = -1;
    else
        verdict = 400; /* bad data, or the input ran out before the end */
    inflateEnd(&z);
    if (verdict == 0) {
        *out = buf;
        *out_len = got;
    } else {
        free(buf);
    }
    return verdict;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    dp_http_receiver *r = receiver();
    unsigned mode = data[0], earlier = data[1] % 18;
    const uint8_t *body = data + 2;
    size_t len = size - 2;
    enum dp_signal signal = (enum dp_signal)((mode & 3) % 3);
    bool json = mode & 4, gzip = mode & 8;
    size_t piece = (size_t)1 << (mode >> 4); /* 1 .. 32768 bytes per call */

    dp_ingest_stats stats_before, stats_after;
    dp_ingest_get_stats(r->opt.ingest, &stats_before);

    /* the verdict on the body alone */
    uint8_t *inflated = NULL;
    size_t inflated_len = 0;
    int verdict =
        gzip ? expected_gzip(body, len, &inflated, &inflated_len) : (len > FUZZ_CAP ? 413 : 0);

    request_ctx *c = ctx_take(r);
    if (!c)
        goto out;
    if (earlier) { /* an earlier request on the context (the pool hands the same one back) */
        static const char zeros[FUZZ_CAP];
        take_body(r, c, zeros, (size_t)1 << (earlier - 1)); /* at most FUZZ_CAP */
        ctx_give_back(r, c);
        if (ctx_take(r) != c)
            abort();
    }
    /* what judge_headers() sets for an accepted POST with these headers */
    c->signal = signal;
    c->type = json ? BODY_JSON : BODY_PROTOBUF;
    if (gzip) {
        if (dp_inflater_init(&c->z, DP_INFLATE_GZIP, FUZZ_CAP) != DP_INFLATE_OK) {
            dp_inflater_end(&c->z);
            ctx_give_back(r, c);
            goto out;
        }
        c->compressed = true;
    }
    /* the pieces as libmicrohttpd hands them over (on_request) */
    for (size_t off = 0; off < len; off += piece) {
        size_t n = len - off < piece ? len - off : piece;
        if (!c->status)
            take_body(r, c, (const char *)body + off, n);
    }
    if (gzip && !c->status && dp_inflater_finish(&c->z) != DP_INFLATE_OK)
        decide(c, 400, "the gzip body is truncated"); /* as finish() decides it */
    if (verdict >= 0 && c->status != 503) {
        if (c->status != verdict)
            abort();
        const uint8_t *want = gzip ? inflated : body;
        size_t want_len = gzip ? inflated_len : len;
        if (verdict == 0 &&
            (c->body.len != want_len || (want_len && memcmp(c->body.data, want, want_len) != 0)))
            abort();
    }

    uint64_t before[8], total = 0;
    for (int i = 0; i < 8; i++)
        before[i] = atomic_load(&r->answers[i]);
    c->answered = true;
    finish(r, NULL, c);
    int slot = -1;
    for (int i = 0; i < 8; i++) {
        uint64_t d = atomic_load(&r->answers[i]) - before[i];
        total += d;
        if (d)
            slot = i;
    }
    if (total != 1 || (c->status && slot != answer_slot(c->status)))
        abort();
    /* the answer reads back in its encoding */
    if (c->type == BODY_JSON) {
        json_t *j = c->answer.len ? json_loadb(c->answer.data, c->answer.len, 0, NULL) : NULL;
        if (c->answer.len && !json_is_object(j))
            abort();
        json_decref(j);
    } else if (slot != 0 && c->answer.len) {
        char msg[sizeof(c->message)];
        if (dp_upstream_status_message((const uint8_t *)c->answer.data, c->answer.len, msg,
                                       sizeof(msg)) != 0 ||
            strcmp(msg, c->message) != 0)
            abort();
    }
    ctx_give_back(r, c);
    dp_buf_free(&c->body); /* the next input starts from a fresh context */
out:
    free(inflated);
    dp_ingest_get_stats(r->opt.ingest, &stats_after);
    if (drain(table) != stats_after.spans_accepted - stats_before.spans_accepted)
        abort(); /* an acknowledged span is in the table */
    return 0;
}
