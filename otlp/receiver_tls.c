/*
 * TLS of the OTLP receivers; see receiver_tls.h for the contract.
 *
 * One reading of the files is a tls_material: the PEM texts as they were
 * read (the gRPC core parses them itself, with OpenSSL), the client CAs as
 * a GnuTLS trust list (for the HTTP receiver's verify function) and a
 * summary for the log. Both receivers' handshakes use the material in use
 * under a read lock; a reload reads and checks the files without the lock
 * and swaps the new material in under the write lock, bumping a
 * generation number the gRPC fetcher compares with the one it delivered.
 */
#include "receiver_tls.h"

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <grpc/grpc_security.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "file_read.h"
#include "log.h"

#define COMPONENT "tls"
#define PEM_FILE_MAX (1024u * 1024) /* largest certificate, key or CA file read */
#define MAX_CHAIN 16                /* certificates of a chain sent or verified */

typedef struct tls_material {
    dp_buf cert_pem; /* NUL-terminated, as read */
    dp_buf key_pem;
    dp_buf ca_pem;                  /* len 0: no client CA */
    gnutls_x509_trust_list_t trust; /* the client CAs; NULL without */
    bool expired;                   /* the certificate's validity has passed (logged) */
    char summary[2600];
} tls_material;

/* What the gRPC core's certificate config fetcher is given. */
typedef struct grpc_fetcher {
    dp_tls_server *t;
    _Atomic uint64_t delivered; /* generation last handed to the core; 0 = none */
    struct grpc_fetcher *next;
} grpc_fetcher;

struct dp_tls_server {
    dp_tls_options opt;
    pthread_rwlock_t lock;
    tls_material *current; /* under lock */
    uint64_t generation;   /* under lock: 1 at start, +1 per reload */
    pthread_mutex_t fetchers_lock;
    grpc_fetcher *fetchers;
};

/* --- reading and checking the files ------------------------------------------------------ */

static void material_free(tls_material *m)
{
    if (!m)
        return;
    if (m->key_pem.data)
        explicit_bzero(m->key_pem.data, m->key_pem.cap);
    dp_buf_free(&m->key_pem);
    dp_buf_free(&m->cert_pem);
    dp_buf_free(&m->ca_pem);
    if (m->trust)
        gnutls_x509_trust_list_deinit(m->trust, 1);
    free(m);
}

static gnutls_datum_t datum_of(const dp_buf *b)
{
    return (gnutls_datum_t){(unsigned char *)b->data, (unsigned)b->len};
}

/* "CN=name, serial 03E9, valid until 2026-01-02T03:04:05Z" of a certificate. */
static void describe_certificate(gnutls_x509_crt_t crt, char *out, size_t outlen, bool *expired)
{
    char cn[128] = "", serial_hex[2 * 40 + 1] = "", until[32] = "?";
    size_t size = sizeof(cn);
    if (gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, cn, &size) < 0)
        snprintf(cn, sizeof(cn), "(none)");
    for (char *p = cn; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
            *p = '?';
    unsigned char serial[40];
    size = sizeof(serial);
    if (gnutls_x509_crt_get_serial(crt, serial, &size) == 0)
        for (size_t i = 0; i < size; i++)
            snprintf(serial_hex + 2 * i, 3, "%02X", serial[i]);
    time_t not_after = gnutls_x509_crt_get_expiration_time(crt);
    struct tm tm;
    if (not_after != (time_t)-1 && gmtime_r(&not_after, &tm))
        strftime(until, sizeof(until), "%Y-%m-%dT%H:%M:%SZ", &tm);
    *expired = not_after != (time_t)-1 && not_after < time(NULL);
    snprintf(out, outlen, "CN=%s, serial %s, valid until %s", cn, serial_hex, until);
}

/* The certificate file: a chain that GnuTLS reads as the HTTP receiver will send it. */
static int check_certificate(const dp_tls_options *o, tls_material *m, gnutls_x509_crt_t *leaf,
                             char *err, size_t errlen)
{
    gnutls_x509_crt_t *crts = NULL;
    unsigned n = 0;
    gnutls_datum_t d = datum_of(&m->cert_pem);
    int g = gnutls_x509_crt_list_import2(&crts, &n, &d, GNUTLS_X509_FMT_PEM, 0);
    if (g < 0 || n == 0) {
        snprintf(err, errlen, "server.tls.cert_file: %s: not a PEM certificate (%s)", o->cert_file,
                 g < 0 ? gnutls_strerror(g) : "no certificate in it");
        return DP_EINVAL;
    }
    if (n > MAX_CHAIN) {
        snprintf(err, errlen, "server.tls.cert_file: %s: %u certificates, more than %d",
                 o->cert_file, n, MAX_CHAIN);
        g = -1;
    }
    for (unsigned i = 1; i < n; i++)
        gnutls_x509_crt_deinit(crts[i]);
    if (g < 0) {
        gnutls_x509_crt_deinit(crts[0]);
    } else {
        *leaf = crts[0];
    }
    gnutls_free(crts);
    return g < 0 ? DP_EINVAL : DP_OK;
}

/* The key file: an unencrypted key whose public half is the certificate's. */
static int check_key(const dp_tls_options *o, tls_material *m, gnutls_x509_crt_t leaf, char *err,
                     size_t errlen)
{
    int rc = DP_EINVAL;
    gnutls_x509_privkey_t key = NULL;
    unsigned char cert_id[64], key_id[64];
    size_t cert_id_len = sizeof(cert_id), key_id_len = sizeof(key_id);
    gnutls_datum_t d = datum_of(&m->key_pem);
    int g = gnutls_x509_privkey_init(&key);
    if (g == 0)
        g = gnutls_x509_privkey_import2(key, &d, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN);
    if (g < 0) {
        snprintf(err, errlen, "server.tls.key_file: %s: not an unencrypted PEM private key (%s)",
                 o->key_file, gnutls_strerror(g));
        goto out;
    }
    if (gnutls_x509_crt_get_key_id(leaf, 0, cert_id, &cert_id_len) < 0 ||
        gnutls_x509_privkey_get_key_id(key, 0, key_id, &key_id_len) < 0 ||
        cert_id_len != key_id_len || memcmp(cert_id, key_id, key_id_len) != 0) {
        snprintf(err, errlen, "server.tls.key_file: %s is not the key of the certificate in %s",
                 o->key_file, o->cert_file);
        goto out;
    }
    rc = DP_OK;
out:
    if (key)
        gnutls_x509_privkey_deinit(key);
    return rc;
}

/* The client CA file: one or more PEM certificates, as a trust list. */
static int check_client_ca(const dp_tls_options *o, tls_material *m, char *err, size_t errlen,
                           unsigned *count)
{
    gnutls_datum_t d = datum_of(&m->ca_pem);
    int g = gnutls_x509_trust_list_init(&m->trust, 0);
    if (g == 0)
        g = gnutls_x509_trust_list_add_trust_mem(m->trust, &d, NULL, GNUTLS_X509_FMT_PEM, 0, 0);
    if (g <= 0) {
        snprintf(err, errlen, "server.tls.client_ca_file: %s: not a PEM certificate (%s)",
                 o->client_ca_file, g < 0 ? gnutls_strerror(g) : "no certificate in it");
        return DP_EINVAL;
    }
    *count = (unsigned)g;
    return DP_OK;
}

/* Read and check the files of `o`; NULL with the reason in err. */
static tls_material *material_read(const dp_tls_options *o, char *err, size_t errlen)
{
    int rc = DP_EINVAL;
    gnutls_x509_crt_t leaf = NULL;
    char why[1200], certificate[300];
    unsigned ca_count = 0;
    tls_material *m = calloc(1, sizeof(*m));
    if (!m) {
        snprintf(err, errlen, "server.tls: out of memory");
        return NULL;
    }
    dp_buf_init(&m->cert_pem, 0);
    dp_buf_init(&m->key_pem, 0);
    dp_buf_init(&m->ca_pem, 0);
    if (dp_file_read(o->cert_file, PEM_FILE_MAX, &m->cert_pem, why, sizeof(why)) < 0) {
        snprintf(err, errlen, "server.tls.cert_file: %s", why);
        goto out;
    }
    if (dp_file_read(o->key_file, PEM_FILE_MAX, &m->key_pem, why, sizeof(why)) < 0) {
        snprintf(err, errlen, "server.tls.key_file: %s", why);
        goto out;
    }
    if (o->client_ca_file[0] &&
        dp_file_read(o->client_ca_file, PEM_FILE_MAX, &m->ca_pem, why, sizeof(why)) < 0) {
        snprintf(err, errlen, "server.tls.client_ca_file: %s", why);
        goto out;
    }
    if (check_certificate(o, m, &leaf, err, errlen) != DP_OK ||
        check_key(o, m, leaf, err, errlen) != DP_OK ||
        (o->client_ca_file[0] && check_client_ca(o, m, err, errlen, &ca_count) != DP_OK))
        goto out;
    describe_certificate(leaf, certificate, sizeof(certificate), &m->expired);
    if (ca_count)
        snprintf(m->summary, sizeof(m->summary),
                 "certificate %s from %s; client certificates required (%u CA certificate%s "
                 "from %s)",
                 certificate, o->cert_file, ca_count, ca_count == 1 ? "" : "s", o->client_ca_file);
    else
        snprintf(m->summary, sizeof(m->summary), "certificate %s from %s; no client certificates",
                 certificate, o->cert_file);
    rc = DP_OK;
out:
    if (leaf)
        gnutls_x509_crt_deinit(leaf);
    if (rc != DP_OK) {
        material_free(m);
        m = NULL;
    }
    return m;
}

static void warn_if_expired(const dp_tls_options *o, const tls_material *m)
{
    if (m->expired)
        dp_log_warn(COMPONENT, "the certificate in %s has expired: clients will refuse it",
                    o->cert_file);
}

/* --- lifecycle --------------------------------------------------------------------------- */

bool dp_tls_options_enabled(const dp_tls_options *o)
{
    return o->cert_file[0] || o->key_file[0] || o->client_ca_file[0];
}

int dp_tls_server_create(const dp_tls_options *o, dp_tls_server **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!o->cert_file[0] || !o->key_file[0]) {
        snprintf(err, errlen,
                 "server.tls.cert_file and server.tls.key_file are both needed for TLS%s",
                 o->client_ca_file[0] ? " (server.tls.client_ca_file alone is not enough)" : "");
        return DP_EINVAL;
    }
    dp_tls_server *t = calloc(1, sizeof(*t));
    if (!t) {
        snprintf(err, errlen, "server.tls: out of memory");
        return DP_ENOMEM;
    }
    t->opt = *o;
    pthread_rwlock_init(&t->lock, NULL);
    pthread_mutex_init(&t->fetchers_lock, NULL);
    t->current = material_read(o, err, errlen);
    if (!t->current) {
        dp_tls_server_destroy(t);
        return DP_EINVAL;
    }
    t->generation = 1;
    warn_if_expired(o, t->current);
    *out = t;
    return DP_OK;
}

int dp_tls_server_reload(dp_tls_server *t, char *summary, size_t summary_len, char *err,
                         size_t errlen)
{
    tls_material *next = material_read(&t->opt, err, errlen);
    if (!next)
        return DP_EINVAL;
    warn_if_expired(&t->opt, next);
    pthread_rwlock_wrlock(&t->lock);
    tls_material *old = t->current;
    t->current = next;
    t->generation++;
    pthread_rwlock_unlock(&t->lock);
    /* handshakes copy what they take under the lock, so nothing refers to it now */
    material_free(old);
    dp_tls_server_summary(t, summary, summary_len);
    return DP_OK;
}

void dp_tls_server_summary(dp_tls_server *t, char *out, size_t outlen)
{
    pthread_rwlock_rdlock(&t->lock);
    snprintf(out, outlen, "%s", t->current->summary);
    pthread_rwlock_unlock(&t->lock);
}

const dp_tls_options *dp_tls_server_options(const dp_tls_server *t)
{
    return &t->opt;
}

void dp_tls_server_destroy(dp_tls_server *t)
{
    if (!t)
        return;
    material_free(t->current);
    for (grpc_fetcher *f = t->fetchers, *next; f; f = next) {
        next = f->next;
        free(f);
    }
    pthread_mutex_destroy(&t->fetchers_lock);
    pthread_rwlock_destroy(&t->lock);
    free(t);
}

/* --- gRPC ----------------------------------------------------------------------------------- */

/*
 * Asked by the gRPC core before each new handshake (and once when the port
 * is added): a new config when a reload happened since it last took one.
 * The config holds copies of the PEM texts.
 */
static grpc_ssl_certificate_config_reload_status
fetch_config(void *user, grpc_ssl_server_certificate_config **config)
{
    grpc_fetcher *f = user;
    dp_tls_server *t = f->t;
    grpc_ssl_certificate_config_reload_status status = GRPC_SSL_CERTIFICATE_CONFIG_RELOAD_UNCHANGED;
    pthread_rwlock_rdlock(&t->lock);
    if (atomic_load(&f->delivered) != t->generation) {
        const tls_material *m = t->current;
        grpc_ssl_pem_key_cert_pair pair = {m->key_pem.data, m->cert_pem.data};
        /* the core (1.51) asserts that a fetched config has root certificates;
         * without a client CA none are asked for, so the server's own chain
         * stands in and is never used */
        *config = grpc_ssl_server_certificate_config_create(
            m->ca_pem.len ? m->ca_pem.data : m->cert_pem.data, &pair, 1);
        if (*config) {
            atomic_store(&f->delivered, t->generation);
            status = GRPC_SSL_CERTIFICATE_CONFIG_RELOAD_NEW;
        } else {
            status = GRPC_SSL_CERTIFICATE_CONFIG_RELOAD_FAIL;
        }
    }
    pthread_rwlock_unlock(&t->lock);
    return status;
}

struct grpc_server_credentials *dp_tls_server_grpc_credentials(dp_tls_server *t)
{
    grpc_fetcher *f = calloc(1, sizeof(*f));
    if (!f)
        return NULL;
    f->t = t;
    pthread_mutex_lock(&t->fetchers_lock);
    f->next = t->fetchers;
    t->fetchers = f;
    pthread_mutex_unlock(&t->fetchers_lock);
    if (t->opt.min_version == DP_TLS_1_3)
        dp_log_warn(COMPONENT,
                    "server.tls.min_version 1.3 holds for OTLP/HTTP; the OTLP/gRPC receiver also "
                    "takes TLS 1.2 (with ECDHE and AES-GCM only): the gRPC core cannot raise its "
                    "floor for reloadable certificates");
    grpc_ssl_server_credentials_options *options =
        grpc_ssl_server_credentials_create_options_using_config_fetcher(
            t->opt.client_ca_file[0] ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                                     : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE,
            fetch_config, f);
    return options ? grpc_ssl_server_credentials_create_with_options(options) : NULL;
}

/* --- libmicrohttpd (GnuTLS) ----------------------------------------------------------------- */

/* The dp_tls_server of a session: libmicrohttpd's connection is the session's pointer. */
static dp_tls_server *server_of(gnutls_session_t session)
{
    struct MHD_Connection *conn = gnutls_session_get_ptr(session);
    const union MHD_ConnectionInfo *info =
        conn ? MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT) : NULL;
    return info ? info->socket_context : NULL;
}

/*
 * The client's certificate chain, checked during the handshake against the
 * client CAs in use, for TLS client authentication (extended key usage
 * clientAuth when the certificate lists usages), as OpenSSL checks it for
 * the gRPC receiver. Non-zero fails the handshake.
 */
static int verify_client(gnutls_session_t session)
{
    dp_tls_server *t = server_of(session);
    unsigned count = 0, status = 1;
    const gnutls_datum_t *raw = gnutls_certificate_get_peers(session, &count);
    gnutls_x509_crt_t chain[MAX_CHAIN];
    unsigned n = 0;
    if (!t || !raw || count == 0 || count > MAX_CHAIN)
        return -1;
    for (; n < count; n++) {
        if (gnutls_x509_crt_init(&chain[n]) < 0)
            break;
        if (gnutls_x509_crt_import(chain[n], &raw[n], GNUTLS_X509_FMT_DER) < 0) {
            gnutls_x509_crt_deinit(chain[n]);
            break;
        }
    }
    gnutls_typed_vdata_st purpose = {GNUTLS_DT_KEY_PURPOSE_OID,
                                     (unsigned char *)GNUTLS_KP_TLS_WWW_CLIENT, 0};
    pthread_rwlock_rdlock(&t->lock);
    if (n == count && t->current->trust &&
        gnutls_x509_trust_list_verify_crt2(t->current->trust, chain, n, &purpose, 1, 0, &status,
                                           NULL) < 0)
        status = 1;
    pthread_rwlock_unlock(&t->lock);
    for (unsigned i = 0; i < n; i++)
        gnutls_x509_crt_deinit(chain[i]);
    if (status != 0) {
        gnutls_datum_t why = {NULL, 0};
        if (n == count &&
            gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &why, 0) == 0)
            dp_log_debug(COMPONENT, "a client certificate is refused: %s", why.data);
        gnutls_free(why.data);
        return -1;
    }
    return 0;
}

/*
 * GnuTLS asks for the certificate at each handshake. Each gets its own
 * copy of the certificate chain and key, which GnuTLS frees with the
 * session (GNUTLS_CERT_RETR_DEINIT_ALL), so a reload never frees what a
 * handshake uses.
 */
static int retrieve_certificate(gnutls_session_t session, const struct gnutls_cert_retr_st *info,
                                gnutls_pcert_st **certs, unsigned *certs_length,
                                gnutls_ocsp_data_st **ocsp, unsigned *ocsp_length,
                                gnutls_privkey_t *privkey, unsigned *flags)
{
    dp_tls_server *t = server_of(session);
    gnutls_pcert_st *chain = t ? gnutls_calloc(MAX_CHAIN, sizeof(*chain)) : NULL;
    gnutls_privkey_t key = NULL;
    unsigned n = MAX_CHAIN;
    int g = -1;
    if (!chain)
        return -1;
    pthread_rwlock_rdlock(&t->lock);
    gnutls_datum_t cert = datum_of(&t->current->cert_pem), pem = datum_of(&t->current->key_pem);
    g = gnutls_pcert_list_import_x509_raw(chain, &n, &cert, GNUTLS_X509_FMT_PEM, 0);
    if (g >= 0) {
        g = gnutls_privkey_init(&key);
        if (g >= 0)
            g = gnutls_privkey_import_x509_raw(key, &pem, GNUTLS_X509_FMT_PEM, NULL, 0);
        if (g < 0)
            for (unsigned i = 0; i < n; i++)
                gnutls_pcert_deinit(&chain[i]);
    }
    pthread_rwlock_unlock(&t->lock);
    if (g < 0) {
        if (key)
            gnutls_privkey_deinit(key);
        gnutls_free(chain);
        dp_log_error(COMPONENT, "cannot use the certificate for a handshake: %s",
                     gnutls_strerror(g));
        return -1;
    }
    if (t->opt.client_ca_file[0]) {
        /* asked before the server's CertificateRequest is written: a client
         * certificate is required and checked by verify_client */
        gnutls_certificate_server_set_request(session, GNUTLS_CERT_REQUIRE);
        gnutls_session_set_verify_function(session, verify_client);
    }
    *certs = chain;
    *certs_length = n;
    *ocsp = NULL;
    *ocsp_length = 0;
    *privkey = key;
    *flags = GNUTLS_CERT_RETR_DEINIT_ALL;
    return 0;
}

int dp_tls_server_mhd_options(dp_tls_server *t, struct MHD_OptionItem *items, size_t cap)
{
    if (cap < 3)
        return -1;
    items[0] =
        (struct MHD_OptionItem){MHD_OPTION_HTTPS_CERT_CALLBACK2, 0, (void *)&retrieve_certificate};
    items[1] = (struct MHD_OptionItem){
        MHD_OPTION_HTTPS_PRIORITIES, 0,
        (void *)(t->opt.min_version == DP_TLS_1_3 ? "NORMAL:-VERS-ALL:+VERS-TLS1.3"
                                                  : "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2")};
    items[2] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    return 3;
}

void dp_tls_server_mhd_connection_started(dp_tls_server *t, struct MHD_Connection *conn,
                                          void **socket_context)
{
    /* a session whose connection has no server fails its handshake (retrieve_certificate) */
    *socket_context = t;
}
