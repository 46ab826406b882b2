/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "net/netlib.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "base/err.h"

struct netlib netlib;

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static int load_rc;
static char load_msg[512];

/* libcurl 7.85.0 is the first with CURLOPT_PROTOCOLS_STR (debian/control says so too). */
#define NETLIB_CURL_MIN 0x075500

/* dlopen() by soname, as systemd loads its optional libraries; a failure is a message. */
static void *open_lib(const char *name)
{
	void *h = dlopen(name, RTLD_NOW | RTLD_LOCAL);

	if (!h) {
		const char *why = dlerror();

		snprintf(load_msg, sizeof(load_msg), "cannot load %s: %s", name,
			 why ? why : "unknown error");
	}
	return h;
}

/*
 * The cast takes its type from the real prototype, so assigning it to a field of another
 * type is a compile error (-Werror): a field cannot silently be bound to the wrong symbol.
 */
#define RESOLVE(lib, libname, field, fn)                                                    \
	do {                                                                                \
		void *p_ = dlsym((lib), #fn);                                               \
		if (!p_) {                                                                  \
			snprintf(load_msg, sizeof(load_msg), "cannot load %s: no symbol %s", \
				 (libname), #fn);                                           \
			goto out;                                                           \
		}                                                                           \
		netlib.field = (__typeof__(&fn))p_;                                         \
	} while (0)

static int check_curl_msg(const curl_version_info_data *v)
{
	if (!v || v->version_num < NETLIB_CURL_MIN) {
		snprintf(load_msg, sizeof(load_msg),
			 "libcurl %s is too old: pve-ontap needs 7.85.0 or later",
			 v && v->version ? v->version : "(unknown)");
		return -1;
	}
	if (!v->ssl_version || strncmp(v->ssl_version, "OpenSSL/3", 9) != 0) {
		snprintf(load_msg, sizeof(load_msg),
			 "libcurl %s uses TLS backend '%s': pve-ontap needs libcurl built with "
			 "OpenSSL 3 (Debian's libcurl4)",
			 v->version, v->ssl_version ? v->ssl_version : "none");
		return -1;
	}
	return 0;
}

int netlib_check_curl(const curl_version_info_data *v)
{
	if (check_curl_msg(v) < 0)
		return err_set(POE_API, "%s", load_msg);
	return 0;
}

static void load(void)
{
	static const char curl_name[] = "libcurl.so.4";
	/* names in messages: the symbols come from libcurl's own dependencies */
	static const char ssl_name[] = "libssl.so.3 (through libcurl)";
	static const char crypto_name[] = "libcrypto.so.3 (through libcurl)";
	void *curl = NULL, *ssl = NULL, *crypto = NULL;

	load_rc = POE_API;
	curl = open_lib(curl_name);
	if (!curl)
		goto out;
	RESOLVE(curl, curl_name, version_info, curl_version_info);
	if (check_curl_msg(netlib.version_info(CURLVERSION_NOW)) < 0)
		goto out;
	/*
	 * OpenSSL's functions are looked up through libcurl's handle: dlsym() searches a
	 * library and then its dependencies, so they are the OpenSSL 3 libcurl itself uses,
	 * never a second copy (and no dlopen() of our own for it).
	 */
	ssl = crypto = curl;

	RESOLVE(curl, curl_name, global_init, curl_global_init);
	RESOLVE(curl, curl_name, easy_strerror, curl_easy_strerror);
	RESOLVE(curl, curl_name, easy_init, curl_easy_init);
	RESOLVE(curl, curl_name, easy_reset, curl_easy_reset);
	RESOLVE(curl, curl_name, easy_cleanup, curl_easy_cleanup);
	RESOLVE(curl, curl_name, easy_setopt, curl_easy_setopt);
	RESOLVE(curl, curl_name, easy_getinfo, curl_easy_getinfo);
	RESOLVE(curl, curl_name, slist_append, curl_slist_append);
	RESOLVE(curl, curl_name, slist_free_all, curl_slist_free_all);
	RESOLVE(curl, curl_name, multi_init, curl_multi_init);
	RESOLVE(curl, curl_name, multi_cleanup, curl_multi_cleanup);
	RESOLVE(curl, curl_name, multi_setopt, curl_multi_setopt);
	RESOLVE(curl, curl_name, multi_add_handle, curl_multi_add_handle);
	RESOLVE(curl, curl_name, multi_remove_handle, curl_multi_remove_handle);
	RESOLVE(curl, curl_name, multi_perform, curl_multi_perform);
	RESOLVE(curl, curl_name, multi_info_read, curl_multi_info_read);
	RESOLVE(curl, curl_name, multi_poll, curl_multi_poll);
	RESOLVE(ssl, ssl_name, ssl_ctx_set_verify, SSL_CTX_set_verify);
	RESOLVE(ssl, ssl_name, ssl_ctx_set_cert_verify_callback,
		SSL_CTX_set_cert_verify_callback);
	RESOLVE(crypto, crypto_name, x509_store_ctx_get0_cert, X509_STORE_CTX_get0_cert);
	RESOLVE(crypto, crypto_name, x509_store_ctx_set_error, X509_STORE_CTX_set_error);
	RESOLVE(crypto, crypto_name, x509_digest, X509_digest);
	RESOLVE(crypto, crypto_name, evp_sha256, EVP_sha256);
	RESOLVE(crypto, crypto_name, crypto_memcmp, CRYPTO_memcmp);
	load_rc = 0;
out:
	/*
	 * Never dlclose(), also not after a failure: libcurl and OpenSSL register state
	 * (atexit handlers, thread-local keys) that must outlive the process's last call.
	 */
	if (load_rc < 0)
		netlib = (struct netlib){ 0 };
}

int netlib_load(void)
{
	pthread_once(&load_once, load);
	if (load_rc < 0)
		return err_set(load_rc, "%s", load_msg);
	return 0;
}
