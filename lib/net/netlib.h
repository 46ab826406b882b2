/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef PVE_ONTAP_NETLIB_H
#define PVE_ONTAP_NETLIB_H

/*
 * libcurl and OpenSSL, loaded on first use. Mapping libcurl and its ~30 dependencies costs
 * the dynamic loader ~17 ms, four times what the rest of a hook run for a VM without a
 * policy costs (PVE runs the hook at every start and stop of every guest; such a run must
 * stay at a few milliseconds), so the binary is not linked against them: http.c calls through these pointers, filled by netlib_load() on the first
 * HTTP client. The headers are still used for types and constants; every pointer's type
 * is taken from the real prototype, so a call with wrong arguments does not compile.
 */
#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

struct netlib {
	/* libcurl.so.4 */
	__typeof__(curl_global_init) *global_init;
	__typeof__(curl_version_info) *version_info;
	__typeof__(curl_easy_strerror) *easy_strerror;
	__typeof__(curl_easy_init) *easy_init;
	__typeof__(curl_easy_reset) *easy_reset;
	__typeof__(curl_easy_cleanup) *easy_cleanup;
	__typeof__(curl_easy_setopt) *easy_setopt;
	__typeof__(curl_easy_getinfo) *easy_getinfo;
	__typeof__(curl_slist_append) *slist_append;
	__typeof__(curl_slist_free_all) *slist_free_all;
	__typeof__(curl_multi_init) *multi_init;
	__typeof__(curl_multi_cleanup) *multi_cleanup;
	__typeof__(curl_multi_setopt) *multi_setopt;
	__typeof__(curl_multi_add_handle) *multi_add_handle;
	__typeof__(curl_multi_remove_handle) *multi_remove_handle;
	__typeof__(curl_multi_perform) *multi_perform;
	__typeof__(curl_multi_info_read) *multi_info_read;
	__typeof__(curl_multi_poll) *multi_poll;
	/* libssl.so.3, for the certificate pin (the one libcurl.so.4 itself uses) */
	__typeof__(SSL_CTX_set_verify) *ssl_ctx_set_verify;
	__typeof__(SSL_CTX_set_cert_verify_callback) *ssl_ctx_set_cert_verify_callback;
	/* libcrypto.so.3 */
	__typeof__(X509_STORE_CTX_get0_cert) *x509_store_ctx_get0_cert;
	__typeof__(X509_STORE_CTX_set_error) *x509_store_ctx_set_error;
	__typeof__(X509_digest) *x509_digest;
	__typeof__(EVP_sha256) *evp_sha256;
	__typeof__(CRYPTO_memcmp) *crypto_memcmp;
};

/* The resolved functions; valid (and never changed again) once netlib_load() returned 0. */
extern struct netlib netlib;

/*
 * Load libcurl.so.4, libssl.so.3 and libcrypto.so.3 and resolve every function above, once
 * per process (thread-safe; the libraries are never unloaded). Returns 0, or POE_API with
 * err_set() naming the library or symbol and dlerror()'s reason, on this and every later
 * call.
 */
/*
 * POE_API with a message unless v describes a libcurl of at least 7.85.0 whose TLS backend
 * is OpenSSL 3 (what netlib_load() requires of the libcurl.so.4 it opens).
 */
int netlib_check_curl(const curl_version_info_data *v);
int netlib_load(void);

#endif
