/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * lib/net/http.c against a throw-away HTTPS server on 127.0.0.1 (tests/unit/https_echo.py,
 * certificates from tests/sim/certs.py or the openssl CLI).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/err.h"
#include "net/http.h"
#include "net/netlib.h"
#include "base/log.h"
#include "testutil.h"
#include "base/util.h"

struct echo_server {
	pid_t pid;
	int in_fd; /* its stdin: closing it stops the server */
	int port;
	char ca[512];
	char fp[128];   /* fingerprint of the served leaf */
	char cafp[128]; /* fingerprint of the CA (a wrong pin for the leaf) */
	char base[64];
};

static char tmpdir[] = "/tmp/test_http.XXXXXX";
static struct echo_server srv;

static const char *script_path(void)
{
	static char path[1024];
	const char *slash = strrchr(__FILE__, '/');

	snprintf(path, sizeof(path), "%.*s/https_echo.py",
		 slash ? (int)(slash - __FILE__) : 1, slash ? __FILE__ : ".");
	return path;
}

static int echo_start(struct echo_server *s, const char *leaf)
{
	int in[2], out[2];
	char line[2048];
	char certdir[512];
	FILE *f;
	ssize_t n;
	size_t len = 0;

	memset(s, 0, sizeof(*s));
	snprintf(certdir, sizeof(certdir), "%s/certs", tmpdir);
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0)
		return -1;
	s->pid = fork();
	if (s->pid < 0)
		return -1;
	if (s->pid == 0) {
		char *argv[] = { "/usr/bin/python3", (char *)script_path(), "--certdir", certdir,
				 "--leaf", (char *)leaf, NULL };

		dup2(in[0], 0);
		dup2(out[1], 1);
		execv(argv[0], argv);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	s->in_fd = in[1];
	/* One line: "port=N ca=PATH fp=.. cafp=.." */
	while (len < sizeof(line) - 1) {
		n = read(out[0], line + len, 1);
		if (n <= 0)
			break;
		if (line[len] == '\n')
			break;
		len++;
	}
	line[len] = '\0';
	close(out[0]);
	f = fmemopen(line, len, "r");
	if (!f)
		return -1;
	if (fscanf(f, "port=%d ca=%511s fp=%127s cafp=%127s", &s->port, s->ca, s->fp,
		   s->cafp) != 4) {
		fclose(f);
		return -1;
	}
	fclose(f);
	snprintf(s->base, sizeof(s->base), "https://127.0.0.1:%d", s->port);
	return 0;
}

static void echo_stop(struct echo_server *s)
{
	int st;

	if (s->pid <= 0)
		return;
	close(s->in_fd);
	for (int i = 0; i < 50; i++) {
		if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
			s->pid = 0;
			return;
		}
		usleep(100000);
	}
	kill(s->pid, SIGKILL);
	waitpid(s->pid, &st, 0);
	s->pid = 0;
}

static int group_setup(void **state)
{
	(void)state;
	if (!mkdtemp(tmpdir))
		return -1;
	if (echo_start(&srv, "server") < 0) {
		fprintf(stderr, "cannot start %s\n", script_path());
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	echo_stop(&srv);
	testutil_rm_rf(tmpdir);
	return 0;
}

static struct http_opts base_opts(void)
{
	struct http_opts o = {
		.base_url = srv.base,
		.verify = true,
		.ca_file = srv.ca,
		.user = "admin",
		.password = "s3cr3t-ontap",
		.user_agent = "X-Dot-Client-App: pve-ontap/test",
		.connect_timeout_ms = 5000,
		.request_timeout_ms = 10000,
	};
	return o;
}

static int get(struct http_client *c, const char *path, struct http_response *rs)
{
	struct http_request rq = { .method = "GET", .path = path };

	http_response_release(rs);
	http_response_init(rs);
	return http_perform(c, &rq, rs);
}

/* One GET on a client of its own: asserts the return code, gives the HTTP status. */
static int get_once(const struct http_opts *o, const char *path, int want_rc)
{
	struct http_client *c = http_client_new(o);
	struct http_response rs;
	int status;

	assert_non_null(c);
	http_response_init(&rs);
	assert_int_equal(get(c, path, &rs), want_rc);
	status = rs.status;
	http_response_release(&rs);
	http_client_free(c);
	return status;
}

/* The paths the server has seen, as its JSON text. Caller frees. */
static char *server_log(void)
{
	struct http_opts o = base_opts();
	struct http_client *c = http_client_new(&o);
	struct http_response rs;
	char *out;

	assert_non_null(c);
	http_response_init(&rs);
	assert_int_equal(get(c, "/log", &rs), 0);
	out = util_xstrdup(buf_cstr(&rs.body));
	http_response_release(&rs);
	http_client_free(c);
	return out;
}

static int count_in_log(const char *log, const char *path)
{
	char pat[256];
	int n = 0;

	snprintf(pat, sizeof(pat), "\"%s\"", path);
	for (const char *p = strstr(log, pat); p; p = strstr(p + 1, pat))
		n++;
	return n;
}

static int client_port(const struct http_response *rs)
{
	const char *p = strstr(buf_cstr(&rs->body), "\"client_port\": ");

	return p ? atoi(p + 15) : -1;
}

static void test_get_post_roundtrip(void **state)
{
	struct http_opts o = base_opts();
	struct http_client *c;
	struct http_response rs;
	const char *body = "{\"name\":\"vol1\"}";
	struct http_request post = { .method = "POST", .path = "/api/storage/volumes",
				     .body = body, .body_len = strlen(body) };
	struct http_request patch = { .method = "PATCH", .path = "/api/x?y=1",
				      .body = "a=b", .body_len = 3,
				      .content_type = "application/x-www-form-urlencoded",
				      .extra_header = "CSRFPreventionToken: tok123",
				      .cookie = "PVEAuthCookie=ticket123" };
	const char *b;

	(void)state;
	c = http_client_new(&o);
	assert_non_null(c);
	assert_string_equal(http_client_base(c), srv.base);
	http_response_init(&rs);

	assert_int_equal(get(c, "/api/cluster?fields=version", &rs), 0);
	assert_int_equal(rs.status, 200);
	assert_string_equal(rs.reason, "OK");
	b = buf_cstr(&rs.body);
	assert_non_null(strstr(b, "\"method\": \"GET\""));
	assert_non_null(strstr(b, "\"path\": \"/api/cluster?fields=version\""));
	/* base64("admin:s3cr3t-ontap") */
	assert_non_null(strstr(b, "\"Authorization\": \"Basic YWRtaW46czNjcjN0LW9udGFw\""));
	assert_non_null(strstr(b, "\"Accept\": \"application/json\""));
	assert_non_null(strstr(b, "\"X-Dot-Client-App\": \"pve-ontap/test\""));
	assert_null(strstr(b, "Content-Type"));

	http_response_release(&rs);
	http_response_init(&rs);
	assert_int_equal(http_perform(c, &post, &rs), 0);
	assert_int_equal(rs.status, 200);
	b = buf_cstr(&rs.body);
	assert_non_null(strstr(b, "\"method\": \"POST\""));
	assert_non_null(strstr(b, "\"Content-Type\": \"application/json\""));
	assert_non_null(strstr(b, "\"body\": \"{\\\"name\\\":\\\"vol1\\\"}\""));

	http_response_release(&rs);
	http_response_init(&rs);
	assert_int_equal(http_perform(c, &patch, &rs), 0);
	b = buf_cstr(&rs.body);
	assert_non_null(strstr(b, "\"method\": \"PATCH\""));
	assert_non_null(strstr(b, "\"body\": \"a=b\""));
	assert_non_null(strstr(b, "\"CSRFPreventionToken\": \"tok123\""));
	assert_non_null(strstr(b, "\"Cookie\": \"PVEAuthCookie=ticket123\""));
	assert_non_null(strstr(b, "\"Content-Type\": \"application/x-www-form-urlencoded\""));

	http_response_release(&rs);
	http_client_free(c);
}

static void test_methods_and_status(void **state)
{
	struct http_opts o = base_opts();
	struct http_client *c;
	struct http_response rs;
	struct http_request del = { .method = "DELETE", .path = "/status/404" };
	struct http_request post0 = { .method = "POST", .path = "/empty" };

	(void)state;
	o.user = NULL;
	o.password = NULL;
	o.auth_header = "Authorization: PVEAPIToken=root@pam!t=abcd-efgh";
	c = http_client_new(&o);
	assert_non_null(c);
	http_response_init(&rs);
	assert_int_equal(http_perform(c, &del, &rs), 0);
	assert_int_equal(rs.status, 404);
	assert_string_equal(rs.reason, "Not Found");
	assert_non_null(strstr(buf_cstr(&rs.body), "\"method\": \"DELETE\""));
	assert_non_null(strstr(buf_cstr(&rs.body),
			       "\"Authorization\": \"PVEAPIToken=root@pam!t=abcd-efgh\""));

	http_response_release(&rs);
	http_response_init(&rs);
	assert_int_equal(http_perform(c, &post0, &rs), 0);
	assert_int_equal(rs.status, 200);
	assert_non_null(strstr(buf_cstr(&rs.body), "\"method\": \"POST\""));

	/* A request without a leading slash never leaves the process. */
	post0.path = "empty";
	http_response_release(&rs);
	http_response_init(&rs);
	assert_true(http_perform(c, &post0, &rs) < 0);
	http_response_release(&rs);
	http_client_free(c);
}

static void test_untrusted_cert_fails(void **state)
{
	struct http_opts o = base_opts();
	char want[128];
	char *log;

	(void)state;
	o.ca_file = NULL; /* system store: does not know our CA */
	assert_int_equal(get_once(&o, "/untrusted", POE_API), 0);
	snprintf(want, sizeof(want), "TLS verification of '127.0.0.1:%d' failed", srv.port);
	assert_non_null(strstr(err_msg(), want));
	assert_null(strstr(err_msg(), "s3cr3t"));

	log = server_log();
	assert_int_equal(count_in_log(log, "/untrusted"), 0);
	free(log);

	/* verify: false accepts it */
	o.verify = false;
	assert_int_equal(get_once(&o, "/unverified", 0), 200);
}

static void test_wrong_hostname_fails(void **state)
{
	struct echo_server other;
	struct http_opts o = base_opts();

	(void)state;
	if (echo_start(&other, "wronghost") < 0) {
		echo_stop(&other);
		skip();
	}
	o.base_url = other.base;
	assert_int_equal(get_once(&o, "/x", POE_API), 0);
	assert_non_null(strstr(err_msg(), "TLS verification of"));

	/* pinned, the same server is accepted: the pin replaces the host name check */
	o.fingerprint = other.fp;
	o.ca_file = NULL;
	assert_int_equal(get_once(&o, "/x", 0), 200);
	echo_stop(&other);
}

static void test_pin_ok(void **state)
{
	struct http_opts o = base_opts();
	char plain[80];
	size_t k = 0;

	(void)state;
	o.ca_file = NULL;
	o.fingerprint = srv.fp;
	assert_int_equal(get_once(&o, "/pinned", 0), 200);

	/* plain lower-case hex works too */
	for (const char *p = srv.fp; *p && k < sizeof(plain) - 1; p++)
		if (*p != ':')
			plain[k++] = (char)(*p >= 'A' && *p <= 'F' ? *p + 32 : *p);
	plain[k] = '\0';
	o.fingerprint = plain;
	assert_int_equal(get_once(&o, "/pinned-hex", 0), 200);
}

static void test_pin_wrong(void **state)
{
	struct http_opts o = base_opts();
	char want[128];
	char *log;

	(void)state;
	o.fingerprint = srv.cafp; /* a valid fingerprint, but of another certificate */
	assert_int_equal(get_once(&o, "/pinned-wrong", POE_API), 0);
	snprintf(want, sizeof(want),
		 "certificate of '127.0.0.1:%d' does not match the pinned fingerprint", srv.port);
	assert_string_equal(err_msg(), want);

	log = server_log();
	assert_int_equal(count_in_log(log, "/pinned-wrong"), 0);
	free(log);
}

static void test_fingerprint_parse(void **state)
{
	unsigned char fp[32];
	struct http_opts o = base_opts();

	(void)state;
	assert_int_equal(http_parse_fingerprint(srv.fp, fp), 0);
	assert_int_equal(http_parse_fingerprint(
				 "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF",
				 fp),
			 0);
	assert_int_equal(fp[0], 0x00);
	assert_int_equal(fp[10], 0xaa);
	assert_int_equal(fp[31], 0xff);
	assert_true(http_parse_fingerprint("AA:BB", fp) < 0);
	assert_true(http_parse_fingerprint("", fp) < 0);
	assert_true(http_parse_fingerprint(
			    "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFG",
			    fp) < 0);
	assert_true(http_parse_fingerprint(
			    "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF00",
			    fp) < 0);
	assert_true(http_parse_fingerprint(":00112233445566778899aabbccddeeff001122334455667788"
					   "99AABBCCDDEEFF",
					   fp) < 0);

	o.fingerprint = "AA:BB:CC";
	assert_null(http_client_new(&o));
	assert_int_equal(err_code(), POE_CONFIG);
	o.fingerprint = NULL;
	o.base_url = "ftp://x";
	assert_null(http_client_new(&o));
	o.base_url = NULL;
	assert_null(http_client_new(&o));
}

static void test_redirect_not_followed(void **state)
{
	struct http_opts o = base_opts();
	struct http_client *c;
	struct http_response rs;
	char *log;

	(void)state;
	c = http_client_new(&o);
	http_response_init(&rs);
	assert_int_equal(get(c, "/redirect", &rs), 0);
	assert_int_equal(rs.status, 302);
	assert_string_equal(rs.reason, "Found");
	assert_string_equal(rs.location, "/elsewhere");
	http_response_release(&rs);
	http_client_free(c);

	log = server_log();
	assert_int_equal(count_in_log(log, "/redirect"), 1);
	assert_int_equal(count_in_log(log, "/elsewhere"), 0);
	free(log);
}

static void test_body_cap(void **state)
{
	struct http_opts o = base_opts();
	struct http_client *c;
	struct http_response rs;

	(void)state;
	o.max_body = 1000;
	c = http_client_new(&o);
	http_response_init(&rs);
	assert_int_equal(get(c, "/big?size=1000", &rs), 0);
	assert_int_equal(rs.body.len, 1000);
	assert_int_equal(get(c, "/big?size=200000", &rs), POE_API);
	assert_non_null(strstr(err_msg(), "exceeds 1000 bytes"));
	/* the client stays usable */
	assert_int_equal(get(c, "/after-big", &rs), 0);
	assert_int_equal(rs.status, 200);
	http_response_release(&rs);
	http_client_free(c);
}

static void test_deadline(void **state)
{
	struct http_opts o = base_opts();
	struct http_client *c;
	struct http_response rs;
	struct http_request rq = { .method = "GET", .path = "/slow?ms=3000" };
	int64_t t0, dt;

	(void)state;
	c = http_client_new(&o);
	http_response_init(&rs);

	/* the request's own deadline */
	t0 = util_now_ms();
	rq.deadline_ms = t0 + 300;
	assert_int_equal(http_perform(c, &rq, &rs), POE_TIMEOUT);
	dt = util_now_ms() - t0;
	assert_true(dt >= 250 && dt < 1500);

	/* the global deadline binds as well */
	rq.deadline_ms = 0;
	t0 = util_now_ms();
	util_deadline_set_global(t0 + 300);
	assert_int_equal(http_perform(c, &rq, &rs), POE_TIMEOUT);
	dt = util_now_ms() - t0;
	util_deadline_set_global(0);
	assert_true(dt >= 250 && dt < 1500);

	/* already expired: nothing is sent */
	rq.deadline_ms = util_now_ms() - 1;
	assert_int_equal(http_perform(c, &rq, &rs), POE_TIMEOUT);
	http_response_release(&rs);
	http_client_free(c);

	/* the client's request timeout is an API error, not a deadline */
	o.request_timeout_ms = 300;
	c = http_client_new(&o);
	http_response_init(&rs);
	assert_int_equal(get(c, "/warm", &rs), 0); /* the slow request reuses this connection */
	rq.deadline_ms = 0;
	t0 = util_now_ms();
	assert_int_equal(http_perform(c, &rq, &rs), POE_API);
	dt = util_now_ms() - t0;
	assert_true(dt >= 250 && dt < 1500);
	assert_non_null(strstr(err_msg(), "timed out after"));
	http_response_release(&rs);
	http_client_free(c);
}

static void test_perform_many_parallel(void **state)
{
	struct http_opts o = base_opts();
	struct http_client *c;
	struct http_request rq[8];
	struct http_response rs[8];
	int ports[8], nports = 0;
	int64_t t0, dt;

	(void)state;
	o.max_parallel = 4;
	c = http_client_new(&o);
	for (int i = 0; i < 8; i++) {
		memset(&rq[i], 0, sizeof(rq[i]));
		rq[i].method = "GET";
		rq[i].path = "/slow?ms=300";
		http_response_init(&rs[i]);
	}
	t0 = util_now_ms();
	assert_int_equal(http_perform_many(c, rq, rs, 8), 0);
	dt = util_now_ms() - t0;
	for (int i = 0; i < 8; i++) {
		int p = client_port(&rs[i]);
		bool seen = false;

		assert_int_equal(rs[i].rc, 0);
		assert_int_equal(rs[i].status, 200);
		assert_true(p > 0);
		for (int k = 0; k < nports; k++)
			seen = seen || ports[k] == p;
		if (!seen)
			ports[nports++] = p;
	}
	/* two waves of four, not eight in a row, over at most four connections */
	assert_true(dt >= 550);
	assert_true(dt < 8 * 300);
	assert_true(nports <= 4);

	/* the connections stay open for the next batch and for single requests */
	for (int i = 0; i < 8; i++) {
		rq[i].path = "/fast";
		http_response_release(&rs[i]);
		http_response_init(&rs[i]);
	}
	assert_int_equal(http_perform_many(c, rq, rs, 8), 0);
	for (int i = 0; i < 8; i++) {
		int p = client_port(&rs[i]);
		bool seen = false;

		for (int k = 0; k < nports; k++)
			seen = seen || ports[k] == p;
		assert_true(seen);
		http_response_release(&rs[i]);
	}
	http_client_free(c);
}

static void test_perform_many_mixed(void **state)
{
	struct http_opts o = base_opts();
	struct http_client *c;
	struct http_request rq[3] = {
		{ .method = "GET", .path = "/one" },
		{ .method = "GET", .path = "/big?size=5000" },
		{ .method = "GET", .path = "/status/500" },
	};
	struct http_response rs[3];

	(void)state;
	o.max_body = 1000;
	c = http_client_new(&o);
	for (int i = 0; i < 3; i++)
		http_response_init(&rs[i]);
	assert_int_equal(http_perform_many(c, rq, rs, 3), POE_API);
	assert_non_null(strstr(err_msg(), "exceeds 1000 bytes"));
	assert_int_equal(rs[0].rc, 0);
	assert_int_equal(rs[0].status, 200);
	assert_int_equal(rs[1].rc, POE_API);
	assert_int_equal(rs[2].rc, 0);
	assert_int_equal(rs[2].status, 500);
	for (int i = 0; i < 3; i++)
		http_response_release(&rs[i]);
	assert_int_equal(http_perform_many(c, rq, rs, 0), 0);
	http_client_free(c);
}

static void test_keepalive(void **state)
{
	struct http_opts o = base_opts();
	struct http_client *c;
	struct http_response rs;
	int p1, p2, p3;

	(void)state;
	c = http_client_new(&o);
	http_response_init(&rs);
	assert_int_equal(get(c, "/ka1", &rs), 0);
	p1 = client_port(&rs);
	assert_int_equal(get(c, "/ka2", &rs), 0);
	p2 = client_port(&rs);
	assert_int_equal(get(c, "/ka3", &rs), 0);
	p3 = client_port(&rs);
	assert_true(p1 > 0);
	assert_int_equal(p1, p2);
	assert_int_equal(p2, p3);
	http_response_release(&rs);
	http_client_free(c);
}

static void test_drop_not_retried(void **state)
{
	struct http_opts o = base_opts();
	char *log;

	(void)state;
	assert_int_equal(get_once(&o, "/drop", POE_API), 0);
	log = server_log();
	assert_int_equal(count_in_log(log, "/drop"), 1);
	free(log);
}

static int free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	int port;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static void test_connect_refused_retried(void **state)
{
	struct http_opts o = base_opts();
	struct http_client *c;
	struct http_response rs;
	struct http_request rq = { .method = "GET", .path = "/" };
	char base[64], want[96];
	int64_t t0, dt;

	(void)state;
	snprintf(base, sizeof(base), "http://127.0.0.1:%d/", free_port());
	o.base_url = base;
	c = http_client_new(&o);
	assert_non_null(c);
	/* the trailing slash is dropped */
	assert_int_equal(strlen(http_client_base(c)), strlen(base) - 1);
	http_response_init(&rs);
	t0 = util_now_ms();
	assert_int_equal(http_perform(c, &rq, &rs), POE_API);
	dt = util_now_ms() - t0;
	snprintf(want, sizeof(want), "cannot connect to '127.0.0.1:%d'", atoi(base + 17));
	assert_non_null(strstr(err_msg(), want));
	assert_null(strstr(err_msg(), "s3cr3t"));
	/* two retries after 200 and 600 ms */
	assert_true(dt >= 780 && dt < 3000);

	/* never back off past the deadline */
	t0 = util_now_ms();
	rq.deadline_ms = t0 + 400;
	assert_int_equal(http_perform(c, &rq, &rs), POE_API);
	dt = util_now_ms() - t0;
	assert_true(dt < 400);
	http_response_release(&rs);
	http_client_free(c);
}

static void test_urlencode(void **state)
{
	struct buf b = BUF_INIT(1024);

	(void)state;
	assert_int_equal(http_urlencode(&b, "a b/c.d~e_f-\xc3\xbc&x=1%"), 0);
	assert_string_equal(buf_cstr(&b), "a%20b%2Fc.d~e_f-%C3%BC%26x%3D1%25");
	buf_reset(&b);
	assert_int_equal(http_urlencode(&b, ""), 0);
	assert_string_equal(buf_cstr(&b), "");
	buf_release(&b);

	b = (struct buf)BUF_INIT(4);
	assert_true(http_urlencode(&b, "////") < 0);
	buf_release(&b);
}

/* netlib: the libcurl it accepts (7.85.0 or later, OpenSSL 3 backend) and the one it opened */
static void test_netlib_curl_check(void **state)
{
	curl_version_info_data v = { 0 };

	(void)state;
	v.version = "8.14.1";
	v.version_num = 0x080e01;
	v.ssl_version = "OpenSSL/3.0.17";
	assert_int_equal(netlib_check_curl(&v), 0);
	v.version = "7.84.0";
	v.version_num = 0x075400;
	assert_int_equal(netlib_check_curl(&v), POE_API);
	assert_non_null(strstr(err_msg(), "libcurl 7.84.0 is too old"));
	v.version = "8.14.1";
	v.version_num = 0x080e01;
	v.ssl_version = "GnuTLS/3.8.9";
	assert_int_equal(netlib_check_curl(&v), POE_API);
	assert_non_null(strstr(err_msg(), "TLS backend 'GnuTLS/3.8.9'"));
	v.ssl_version = "OpenSSL/1.1.1w";
	assert_int_equal(netlib_check_curl(&v), POE_API);
	assert_int_equal(netlib_check_curl(NULL), POE_API);
	/* the libcurl.so.4 of this machine passes, and OpenSSL came in as its dependency */
	assert_int_equal(netlib_load(), 0);
	assert_int_equal(netlib_check_curl(netlib.version_info(CURLVERSION_NOW)), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_get_post_roundtrip),
		cmocka_unit_test(test_methods_and_status),
		cmocka_unit_test(test_untrusted_cert_fails),
		cmocka_unit_test(test_wrong_hostname_fails),
		cmocka_unit_test(test_pin_ok),
		cmocka_unit_test(test_pin_wrong),
		cmocka_unit_test(test_fingerprint_parse),
		cmocka_unit_test(test_redirect_not_followed),
		cmocka_unit_test(test_body_cap),
		cmocka_unit_test(test_deadline),
		cmocka_unit_test(test_perform_many_parallel),
		cmocka_unit_test(test_perform_many_mixed),
		cmocka_unit_test(test_keepalive),
		cmocka_unit_test(test_drop_not_retried),
		cmocka_unit_test(test_connect_refused_retried),
		cmocka_unit_test(test_urlencode),
		cmocka_unit_test(test_netlib_curl_check),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
