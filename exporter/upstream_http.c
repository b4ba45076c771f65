/*
 * The OTLP/HTTP upstream transport over libcurl (see upstream_transport.h
 * for the contract, docs/upstream.md for the rules).
 *
 * Per signal: the URL, the request headers (Content-Type, Content-Encoding,
 * the configured extra headers) and the TLS files read once. Per lane: one
 * easy handle in a multi handle of its own, so the lane keeps one
 * connection alive from batch to batch (keep-alive) and a shutdown can wake
 * and end the transfer in flight at once (curl_multi_wakeup). An attempt is
 * one POST of the batch: its requests are streamed from the queue's own
 * storage by the read callback (protobuf lets concatenated requests stand
 * for one), or gzip-compressed once per batch into a buffer the lane reuses.
 *
 * Answers are classified as the OTLP/HTTP specification says: 2xx
 * accepted (its body may carry partial_success), 429, 502, 503 and 504
 * retryable (after Retry-After when the server sent one), any other status
 * refused for good, and a transfer that failed (no connection, TLS,
 * timeout) retryable.
 */
#include <curl/curl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <zlib.h>

#include "log.h"
#include "upstream_status.h"
#include "upstream_transport.h"

#define COMPONENT "upstream"
/* The most of an answer's body kept: a Status or an export response is
 * small; a proxy's error page is cut. */
#define MAX_RESPONSE_BYTES (64u * 1024)
/* How long one wait for the transfer lasts at most; a cancel wakes it. */
#define POLL_MS 1000

typedef struct http_shared {
    char url[1200];
    struct curl_slist *headers; /* holds the extra headers' values: secrets */
    long timeout_ms;
    bool gzip;
    bool tls;
    char *ca_pem, *cert_pem, *key_pem; /* TLS files, read once; NULL = none */
} http_shared;

typedef struct body_part {
    const uint8_t *data;
    size_t len;
} body_part;

typedef struct http_lane {
    http_shared *sh;
    CURLM *multi;
    CURL *easy;
    char errbuf[CURL_ERROR_SIZE];
    atomic_bool cancelled;

    /* the batch of the last batch_begin: parts of the queue's storage, or
     * one part pointing at gz */
    body_part *parts;
    size_t nparts, part_cap;
    size_t body_len;
    z_stream z;
    bool z_ready;
    uint8_t *gz;
    size_t gz_cap;

    /* the attempt in flight */
    size_t read_part, read_off;
    uint8_t response[MAX_RESPONSE_BYTES];
    size_t response_len;
    char retry_after[128];
    char content_type[128];
} http_lane;

/* ---- setup ------------------------------------------------------------- */

static void free_headers(struct curl_slist *list)
{
    for (struct curl_slist *h = list; h; h = h->next)
        memset(h->data, 0, strlen(h->data)); /* extra header values are secrets */
    curl_slist_free_all(list);
}

static void http_transport_close(void *shared)
{
    http_shared *sh = shared;
    if (!sh)
        return;
    free_headers(sh->headers);
    free(sh->ca_pem);
    free(sh->cert_pem);
    dp_upstream_free_secret(sh->key_pem);
    free(sh);
    curl_global_cleanup();
}

/* Append "name: value" to *list; false when out of memory. The line is
 * cleared after curl copied it: it may hold a secret. */
static bool add_header(struct curl_slist **list, const char *name, const char *value)
{
    size_t n = strlen(name) + strlen(value) + 3;
    char *line = malloc(n);
    if (!line)
        return false;
    /* "name;" is curl's way of sending a header with an empty value */
    if (value[0])
        snprintf(line, n, "%s: %s", name, value);
    else
        snprintf(line, n, "%s;", name);
    struct curl_slist *grown = curl_slist_append(*list, line);
    dp_upstream_free_secret(line);
    if (!grown)
        return false;
    *list = grown;
    return true;
}

static bool read_tls_files(http_shared *sh, const dp_upstream_connection *c)
{
    if (c->ca_file[0] && !(sh->ca_pem = dp_upstream_read_pem(c->ca_file, "CA file")))
        return false;
    if ((c->client_cert_file[0] != '\0') != (c->client_key_file[0] != '\0')) {
        dp_log_error(COMPONENT, "a client certificate needs both a certificate and a key file");
        return false;
    }
    if (c->client_cert_file[0] &&
        (!(sh->cert_pem = dp_upstream_read_pem(c->client_cert_file, "client certificate")) ||
         !(sh->key_pem = dp_upstream_read_pem(c->client_key_file, "client key"))))
        return false;
    return true;
}

static void *http_transport_open(const dp_upstream_connection *c, const dp_upstream_config *cfg,
                                 dp_upstream_signal signal)
{
    dp_upstream_header headers[DP_UPSTREAM_MAX_HEADERS];
    size_t header_count = 0;
    http_shared *sh = NULL, *result = NULL;

    (void)cfg;
    (void)signal;
    if (dp_upstream_headers_parse(c->headers, "upstream headers", headers, &header_count) != 0)
        return NULL; /* the reason is logged */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        dp_log_error(COMPONENT, "cannot initialise libcurl");
        goto out;
    }
    sh = calloc(1, sizeof(*sh)); /* from here http_transport_close() cleans up */
    if (!sh) {
        curl_global_cleanup();
        goto out;
    }
    dp_upstream_connection_url(c, sh->url, sizeof(sh->url));
    sh->timeout_ms = (long)c->timeout_ms;
    sh->gzip = c->compression == DP_UPSTREAM_COMPRESSION_GZIP;
    sh->tls = c->transport != DP_UPSTREAM_PLAINTEXT;
    if (sh->tls && !read_tls_files(sh, c))
        goto out;
    /* "Expect:" keeps curl from waiting for a 100 Continue before large
     * bodies: an OTLP receiver answers the whole request anyway. */
    if (!add_header(&sh->headers, "Content-Type", "application/x-protobuf") ||
        (sh->gzip && !add_header(&sh->headers, "Content-Encoding", "gzip")))
        goto out;
    struct curl_slist *grown = curl_slist_append(sh->headers, "Expect:");
    if (!grown)
        goto out;
    sh->headers = grown;
    for (size_t i = 0; i < header_count; i++)
        if (!add_header(&sh->headers, headers[i].key, headers[i].value))
            goto out;
    result = sh;
    sh = NULL;
out:
    if (sh && !result)
        dp_log_error(COMPONENT, "cannot set up the OTLP/HTTP client for %s", sh->url);
    dp_upstream_headers_free(headers, header_count);
    http_transport_close(sh);
    return result;
}

/* ---- curl callbacks ------------------------------------------------------- */

static size_t read_body(char *buf, size_t size, size_t nitems, void *userdata)
{
    http_lane *l = userdata;
    size_t cap = size * nitems, n = 0;

    while (n < cap && l->read_part < l->nparts) {
        const body_part *p = &l->parts[l->read_part];
        size_t take = p->len - l->read_off;
        if (take > cap - n)
            take = cap - n;
        memcpy(buf + n, p->data + l->read_off, take);
        n += take;
        l->read_off += take;
        if (l->read_off == p->len) {
            l->read_part++;
            l->read_off = 0;
        }
    }
    return n;
}

/* curl rewinds the body when it sends the request again on a new
 * connection (a kept-alive one the server had closed). */
static int seek_body(void *userdata, curl_off_t offset, int origin)
{
    http_lane *l = userdata;
    if (origin != SEEK_SET || offset < 0 || (uint64_t)offset > l->body_len)
        return CURL_SEEKFUNC_CANTSEEK;
    size_t left = (size_t)offset;
    l->read_part = 0;
    l->read_off = 0;
    while (l->read_part < l->nparts && left >= l->parts[l->read_part].len) {
        left -= l->parts[l->read_part].len;
        l->read_part++;
    }
    l->read_off = left;
    return CURL_SEEKFUNC_OK;
}

static size_t write_response(char *data, size_t size, size_t nmemb, void *userdata)
{
    http_lane *l = userdata;
    size_t n = size * nmemb;
    size_t room = sizeof(l->response) - l->response_len;
    /* beyond the cap the body is dropped, not the transfer */
    memcpy(l->response + l->response_len, data, n < room ? n : room);
    l->response_len += n < room ? n : room;
    return n;
}

/* The value of header `name` in `line` (trimmed, into out), if it is that header. */
static bool header_value(const char *line, size_t len, const char *name, char *out, size_t cap)
{
    size_t nlen = strlen(name);
    if (len <= nlen || strncasecmp(line, name, nlen) != 0 || line[nlen] != ':')
        return false;
    const char *v = line + nlen + 1, *end = line + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
        end--;
    dp_upstream_copy_text(out, cap, v, (size_t)(end - v));
    return true;
}

static size_t read_header(char *line, size_t size, size_t nitems, void *userdata)
{
    http_lane *l = userdata;
    size_t len = size * nitems;
    /* a new status line (after a 100 Continue, say): forget the headers before it */
    if (len >= 5 && strncmp(line, "HTTP/", 5) == 0) {
        l->retry_after[0] = '\0';
        l->content_type[0] = '\0';
        return len;
    }
    if (!header_value(line, len, "Retry-After", l->retry_after, sizeof(l->retry_after)))
        header_value(line, len, "Content-Type", l->content_type, sizeof(l->content_type));
    return len;
}

/* ---- lanes ---------------------------------------------------------------- */

static void http_transport_lane_close(void *lane_ptr)
{
    http_lane *l = lane_ptr;
    if (!l)
        return;
    if (l->easy)
        curl_easy_cleanup(l->easy);
    if (l->multi)
        curl_multi_cleanup(l->multi);
    if (l->z_ready)
        deflateEnd(&l->z);
    free(l->parts);
    free(l->gz);
    free(l);
}

#define SETOPT(opt, value)                                                                         \
    do {                                                                                           \
        if (curl_easy_setopt(l->easy, opt, value) != CURLE_OK) {                                   \
            dp_log_error(COMPONENT, "libcurl refused option %s", #opt);                            \
            goto fail;                                                                             \
        }                                                                                          \
    } while (0)

static bool set_blob(CURL *easy, CURLoption opt, const char *pem)
{
    struct curl_blob blob = {(void *)pem, strlen(pem), CURL_BLOB_COPY};
    return curl_easy_setopt(easy, opt, &blob) == CURLE_OK;
}

static void *http_transport_lane_open(void *shared)
{
    http_shared *sh = shared;
    http_lane *l = calloc(1, sizeof(*l));
    if (!l)
        return NULL;
    l->sh = sh;
    atomic_init(&l->cancelled, false);
    if (!(l->multi = curl_multi_init()) || !(l->easy = curl_easy_init())) {
        dp_log_error(COMPONENT, "cannot create a libcurl handle");
        goto fail;
    }
    SETOPT(CURLOPT_URL, sh->url);
    SETOPT(CURLOPT_PROTOCOLS_STR, "http,https");
    SETOPT(CURLOPT_NOSIGNAL, 1L);
    SETOPT(CURLOPT_POST, 1L);
    SETOPT(CURLOPT_HTTPHEADER, sh->headers);
    SETOPT(CURLOPT_USERAGENT, "dagprof");
    SETOPT(CURLOPT_READFUNCTION, read_body);
    SETOPT(CURLOPT_READDATA, l);
    SETOPT(CURLOPT_SEEKFUNCTION, seek_body);
    SETOPT(CURLOPT_SEEKDATA, l);
    SETOPT(CURLOPT_WRITEFUNCTION, write_response);
    SETOPT(CURLOPT_WRITEDATA, l);
    SETOPT(CURLOPT_HEADERFUNCTION, read_header);
    SETOPT(CURLOPT_HEADERDATA, l);
    SETOPT(CURLOPT_ERRORBUFFER, l->errbuf);
    SETOPT(CURLOPT_TIMEOUT_MS, sh->timeout_ms);
    SETOPT(CURLOPT_TCP_KEEPALIVE, 1L);
    if (sh->tls) {
        if ((sh->ca_pem && !set_blob(l->easy, CURLOPT_CAINFO_BLOB, sh->ca_pem)) ||
            (sh->cert_pem && !set_blob(l->easy, CURLOPT_SSLCERT_BLOB, sh->cert_pem)) ||
            (sh->key_pem && !set_blob(l->easy, CURLOPT_SSLKEY_BLOB, sh->key_pem))) {
            dp_log_error(COMPONENT, "libcurl cannot take the TLS files");
            goto fail;
        }
        if (sh->cert_pem) {
            SETOPT(CURLOPT_SSLCERTTYPE, "PEM");
            SETOPT(CURLOPT_SSLKEYTYPE, "PEM");
        }
    }
    return l;
fail:
    http_transport_lane_close(l);
    return NULL;
}

/* ---- one batch, one attempt ---------------------------------------------- */

static bool grow_gz(http_lane *l, size_t need)
{
    if (need <= l->gz_cap)
        return true;
    uint8_t *gz = realloc(l->gz, need);
    if (!gz)
        return false;
    l->gz = gz;
    l->gz_cap = need;
    return true;
}

/* Compress the listed parts into l->gz (a gzip member) and list it as the
 * one part of the body. */
static int compress_parts(http_lane *l)
{
    if (!l->z_ready) {
        memset(&l->z, 0, sizeof(l->z));
        /* 15 + 16: a gzip wrapper, as Content-Encoding: gzip means */
        if (deflateInit2(&l->z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
                         Z_DEFAULT_STRATEGY) != Z_OK)
            return -1;
        l->z_ready = true;
    } else if (deflateReset(&l->z) != Z_OK) {
        return -1;
    }
    if (!grow_gz(l, deflateBound(&l->z, (uLong)l->body_len) + 64))
        return -1;
    size_t out = 0;
    for (size_t i = 0; i <= l->nparts; i++) {
        bool last = i == l->nparts;
        l->z.next_in = last ? NULL : (Bytef *)l->parts[i].data;
        l->z.avail_in = last ? 0 : (uInt)l->parts[i].len;
        for (;;) {
            if (out == l->gz_cap && !grow_gz(l, l->gz_cap * 2))
                return -1;
            l->z.next_out = l->gz + out;
            l->z.avail_out = (uInt)(l->gz_cap - out);
            int rc = deflate(&l->z, last ? Z_FINISH : Z_NO_FLUSH);
            out = l->gz_cap - l->z.avail_out;
            if (rc == Z_STREAM_END || (!last && l->z.avail_in == 0 && l->z.avail_out > 0))
                break;
            if (rc != Z_OK && rc != Z_BUF_ERROR)
                return -1;
        }
    }
    l->parts[0] = (body_part){l->gz, out};
    l->nparts = 1;
    l->body_len = out;
    return 0;
}

static int http_transport_batch_begin(void *lane_ptr, const dp_delivery_batch *batch)
{
    http_lane *l = lane_ptr;
    void *parts = l->parts;
    if (dp_upstream_reserve(&parts, &l->part_cap, batch->requests, sizeof(body_part)) != 0)
        return -1;
    l->parts = parts;
    l->nparts = 0;
    l->body_len = 0;
    for (dp_delivery_item *it = batch->first; it; it = dp_delivery_item_next(it)) {
        size_t len;
        const uint8_t *data = dp_delivery_item_data(it, &len);
        l->parts[l->nparts++] = (body_part){data, len};
        l->body_len += len;
    }
    return l->sh->gzip ? compress_parts(l) : 0;
}

/* Whether the answer's body is protobuf: said so, or not said at all. */
static bool protobuf_body(const http_lane *l)
{
    const char *ct = l->content_type;
    return !ct[0] || strncasecmp(ct, "application/x-protobuf", 22) == 0 ||
           strncasecmp(ct, "application/protobuf", 20) == 0;
}

/* The message of an error answer: a google.rpc.Status in protobuf, or the
 * text of a text or JSON body (a proxy's page, a JSON Status). */
static void error_message(http_lane *l, dp_upstream_result *res)
{
    const char *ct = l->content_type;
    if (!l->response_len)
        return;
    if (protobuf_body(l)) {
        if (dp_upstream_status_message(l->response, l->response_len, res->message,
                                       sizeof(res->message)) != 0)
            snprintf(res->message, sizeof(res->message), "(malformed google.rpc.Status)");
        dp_upstream_one_line(res->message);
    } else if (strncasecmp(ct, "text/", 5) == 0 || strncasecmp(ct, "application/json", 16) == 0) {
        dp_upstream_copy_text(res->message, sizeof(res->message), l->response, l->response_len);
    }
}

static void classify_answer(http_lane *l, long code, dp_upstream_result *res)
{
    snprintf(res->status, sizeof(res->status), "HTTP %ld", code);
    if (code >= 200 && code < 300) {
        res->outcome = DP_UPSTREAM_ACCEPTED;
        /* a body of another type (a proxy's "OK") carries no partial_success */
        if (l->response_len && protobuf_body(l) &&
            dp_upstream_partial_success_parse(l->response, l->response_len, &res->rejected,
                                              res->partial_message,
                                              sizeof(res->partial_message)) != 0)
            dp_log_warn(COMPONENT, "ignoring malformed export response from upstream");
        dp_upstream_one_line(res->partial_message);
        return;
    }
    error_message(l, res);
    if (dp_upstream_http_retryable((int)code)) {
        res->outcome = DP_UPSTREAM_RETRYABLE;
        uint64_t delay;
        if (l->retry_after[0] &&
            dp_upstream_retry_after_ms(l->retry_after, time(NULL), &delay) == 0) {
            res->has_delay = true;
            res->delay_ms = delay;
        }
    } else {
        res->outcome = DP_UPSTREAM_REFUSED;
    }
}

static void http_transport_send(void *lane_ptr, dp_upstream_result *res)
{
    http_lane *l = lane_ptr;
    CURLcode done = CURLE_OK;
    bool finished = false;

    memset(res, 0, sizeof(*res));
    res->outcome = DP_UPSTREAM_RETRYABLE;
    l->read_part = 0;
    l->read_off = 0;
    l->response_len = 0;
    l->retry_after[0] = '\0';
    l->content_type[0] = '\0';
    l->errbuf[0] = '\0';
    if (atomic_load(&l->cancelled)) {
        snprintf(res->status, sizeof(res->status), "cancelled");
        return;
    }
    if (curl_easy_setopt(l->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)l->body_len) !=
            CURLE_OK ||
        curl_multi_add_handle(l->multi, l->easy) != CURLM_OK) {
        snprintf(res->status, sizeof(res->status), "cannot start the request");
        return;
    }
    while (!atomic_load(&l->cancelled)) {
        int running = 0;
        if (curl_multi_perform(l->multi, &running) != CURLM_OK)
            break;
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(l->multi, &left))) {
            if (msg->msg == CURLMSG_DONE && msg->easy_handle == l->easy) {
                done = msg->data.result;
                finished = true;
            }
        }
        if (finished || !running)
            break;
        /* curl's own timeout (CURLOPT_TIMEOUT_MS) ends the transfer; a
         * cancel wakes the poll at once */
        if (curl_multi_poll(l->multi, NULL, 0, POLL_MS, NULL) != CURLM_OK)
            break;
    }
    curl_multi_remove_handle(l->multi, l->easy); /* aborts an unfinished transfer */

    if (!finished) {
        bool cancelled = atomic_load(&l->cancelled);
        snprintf(res->status, sizeof(res->status), "%s",
                 cancelled ? "cancelled" : "transport error");
        if (!cancelled)
            snprintf(res->message, sizeof(res->message), "libcurl's multi interface failed");
        return;
    }
    if (done != CURLE_OK) {
        /* no answer: no connection, TLS refused, timed out. Retryable, as
         * gRPC's UNAVAILABLE and DEADLINE_EXCEEDED are. */
        const char *why = l->errbuf[0] ? l->errbuf : curl_easy_strerror(done);
        snprintf(res->status, sizeof(res->status), "transport error");
        dp_upstream_copy_text(res->message, sizeof(res->message), why, strlen(why));
        return;
    }
    long code = 0;
    curl_easy_getinfo(l->easy, CURLINFO_RESPONSE_CODE, &code);
    classify_answer(l, code, res);
}

static void http_transport_cancel(void *lane_ptr)
{
    http_lane *l = lane_ptr;
    atomic_store(&l->cancelled, true);
    curl_multi_wakeup(l->multi);
}

const dp_upstream_transport_ops dp_upstream_http_ops = {
    .name = "OTLP/HTTP",
    .open = http_transport_open,
    .close = http_transport_close,
    .lane_open = http_transport_lane_open,
    .lane_close = http_transport_lane_close,
    .batch_begin = http_transport_batch_begin,
    .send = http_transport_send,
    .cancel = http_transport_cancel,
};
