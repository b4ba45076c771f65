/*
 * TLS of the OTLP receivers; see receiver_tls.h for the contract.
 *
 * One reading of the files is a tls_material: the PEM texts as they were
 * read (each handshake imports its own copy of the certificate and key),
 * the client CAs as a GnuTLS trust list (for the verify function) and a
 * summary for the log. Both receivers' handshakes use the material in use
 * under a read lock; a reload reads and checks the files without the lock
 * and swaps the new material in under the write lock.
 */
#include "receiver_tls.h"

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <microhttpd.h>
#include <pthread.h>
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

struct dp_tls_server {
    dp_tls_options opt;
    pthread_rwlock_t lock;
    tls_material *current; /* under lock */
    /* the OTLP/gRPC receiver's sessions (dp_tls_server_session_new) */
    gnutls_certificate_credentials_t creds;
    gnutls_priority_t priority;
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

static int session_setup(dp_tls_server *t, char *err, size_t errlen);

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
    t->current = material_read(o, err, errlen);
    if (!t->current) {
        dp_tls_server_destroy(t);
        return DP_EINVAL;
    }
    warn_if_expired(o, t->current);
    if (session_setup(t, err, errlen) != DP_OK) {
        dp_tls_server_destroy(t);
        return DP_ENOMEM;
    }
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
    if (t->creds)
        gnutls_certificate_free_credentials(t->creds);
    if (t->priority)
        gnutls_priority_deinit(t->priority);
    pthread_rwlock_destroy(&t->lock);
    free(t);
}

/* --- handshakes (GnuTLS) --------------------------------------------------------------------- */

/*
 * Both receivers' sessions go through the same two callbacks; what differs
 * is how a session leads to its dp_tls_server: an HTTP session's pointer is
 * libmicrohttpd's connection, whose socket context is the server
 * (dp_tls_server_mhd_connection_started); a gRPC session's pointer is the
 * server itself (dp_tls_server_session_new). Each transport has its own
 * retrieve function, which sets the matching verify function.
 */
static dp_tls_server *server_of_mhd(gnutls_session_t session)
{
    struct MHD_Connection *conn = gnutls_session_get_ptr(session);
    const union MHD_ConnectionInfo *info =
        conn ? MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT) : NULL;
    return info ? info->socket_context : NULL;
}

/*
 * The client's certificate chain, checked during the handshake against the
 * client CAs in use, for TLS client authentication (extended key usage
 * clientAuth when the certificate lists usages). Non-zero fails the
 * handshake.
 */
static int verify_client(dp_tls_server *t, gnutls_session_t session)
{
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
static int retrieve_certificate(dp_tls_server *t, gnutls_certificate_verify_function *verify,
                                gnutls_session_t session, gnutls_pcert_st **certs,
                                unsigned *certs_length, gnutls_ocsp_data_st **ocsp,
                                unsigned *ocsp_length, gnutls_privkey_t *privkey, unsigned *flags)
{
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
        gnutls_session_set_verify_function(session, verify);
    }
    *certs = chain;
    *certs_length = n;
    *ocsp = NULL;
    *ocsp_length = 0;
    *privkey = key;
    *flags = GNUTLS_CERT_RETR_DEINIT_ALL;
    return 0;
}

static int verify_client_mhd(gnutls_session_t session)
{
    return verify_client(server_of_mhd(session), session);
}

static int retrieve_certificate_mhd(gnutls_session_t session,
                                    const struct gnutls_cert_retr_st *info, gnutls_pcert_st **certs,
                                    unsigned *certs_length, gnutls_ocsp_data_st **ocsp,
                                    unsigned *ocsp_length, gnutls_privkey_t *privkey,
                                    unsigned *flags)
{
    (void)info;
    return retrieve_certificate(server_of_mhd(session), verify_client_mhd, session, certs,
                                certs_length, ocsp, ocsp_length, privkey, flags);
}

static int verify_client_own(gnutls_session_t session)
{
    return verify_client(gnutls_session_get_ptr(session), session);
}

static int retrieve_certificate_own(gnutls_session_t session,
                                    const struct gnutls_cert_retr_st *info, gnutls_pcert_st **certs,
                                    unsigned *certs_length, gnutls_ocsp_data_st **ocsp,
                                    unsigned *ocsp_length, gnutls_privkey_t *privkey,
                                    unsigned *flags)
{
    (void)info;
    return retrieve_certificate(gnutls_session_get_ptr(session), verify_client_own, session, certs,
                                certs_length, ocsp, ocsp_length, privkey, flags);
}

/* GnuTLS priorities of min_version: TLS 1.3, and 1.2 unless the floor is 1.3. */
static const char *priorities(const dp_tls_server *t)
{
    return t->opt.min_version == DP_TLS_1_3 ? "NORMAL:-VERS-ALL:+VERS-TLS1.3"
                                            : "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2";
}

/* The credentials and priorities of the gRPC receiver's sessions. */
static int session_setup(dp_tls_server *t, char *err, size_t errlen)
{
    int g = gnutls_certificate_allocate_credentials(&t->creds);
    if (g >= 0) {
        gnutls_certificate_set_retrieve_function3(t->creds, retrieve_certificate_own);
        g = gnutls_priority_init2(&t->priority, priorities(t), NULL, 0);
    }
    if (g < 0) {
        snprintf(err, errlen, "server.tls: cannot set up TLS sessions: %s", gnutls_strerror(g));
        return DP_ENOMEM;
    }
    return DP_OK;
}

int dp_tls_server_session_new(dp_tls_server *t, int fd, gnutls_session_t *out)
{
    static const gnutls_datum_t h2 = {(unsigned char *)"h2", 2};
    gnutls_session_t s = NULL;
    int g = gnutls_init(&s, GNUTLS_SERVER | GNUTLS_NONBLOCK | GNUTLS_NO_SIGNAL);
    if (g < 0)
        return g;
    gnutls_session_set_ptr(s, t);
    g = gnutls_priority_set(s, t->priority);
    if (g >= 0)
        g = gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, t->creds);
    if (g >= 0)
        g = gnutls_alpn_set_protocols(s, &h2, 1, 0);
    if (g < 0) {
        gnutls_deinit(s);
        return g;
    }
    gnutls_transport_set_int(s, fd);
    /* the caller times the handshake (server.handshake_timeout) */
    gnutls_handshake_set_timeout(s, 0);
    *out = s;
    return 0;
}

int dp_tls_server_mhd_options(dp_tls_server *t, struct MHD_OptionItem *items, size_t cap)
{
    if (cap < 3)
        return -1;
    items[0] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_CERT_CALLBACK2, 0,
                                       (void *)&retrieve_certificate_mhd};
    items[1] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)priorities(t)};
    items[2] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    return 3;
}

void dp_tls_server_mhd_connection_started(dp_tls_server *t, struct MHD_Connection *conn,
                                          void **socket_context)
{
    /* a session whose connection has no server fails its handshake (retrieve_certificate_mhd) */
    *socket_context = t;
}
