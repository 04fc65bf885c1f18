/*
 * mbedtls-speed — the crypto ceilings of Debian's mbedTLS 2.28 on this
 * machine, measured the way a TLS 1.2 server spends them:
 *   - AES-128-GCM / AES-256-GCM / ChaCha20-Poly1305 encrypt+tag of 16 KiB
 *     records (a full TLS record), in MB/s (10^6 bytes);
 *   - ECDSA P-256 sign (ServerKeyExchange) and verify, ops/s;
 *   - ECDHE X25519, P-256 and P-384: key generation and shared-secret computation,
 *     ops/s each (a TLS 1.2 server does one of each per full handshake);
 *   - RSA-2048 private-key operation (sign with an RSA cert), ops/s.
 * The ECDSA and RSA keys are the benchmark's own (build/bench/fixtures/tls) when
 * given, so the numbers match what the servers sign with.
 *
 * Usage: mbedtls-speed [-t SECONDS_PER_TEST] [EC_KEY.pem [RSA_KEY.pem]]
 * Output: one line per test, "name<TAB>value<TAB>unit", then a summary of
 * the handshake ceiling implied for one core.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mbedtls/chachapoly.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecdh.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/gcm.h>
#include <mbedtls/pk.h>
#include <mbedtls/rsa.h>
#include <mbedtls/sha256.h>
#include <mbedtls/version.h>

#define RECORD (16 * 1024)

static double seconds_per_test = 1.0;
static mbedtls_ctr_drbg_context drbg;
static mbedtls_entropy_context entropy;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, int ret)
{
	char buf[160];
	mbedtls_strerror(ret, buf, sizeof buf);
	fprintf(stderr, "mbedtls-speed: %s failed: -0x%04x %s\n", what, (unsigned)-ret, buf);
	exit(1);
}

#define CHECK(what, expr)                                                                          \
	do {                                                                                       \
		int ret_ = (expr);                                                                 \
		if (ret_ != 0)                                                                     \
			die(what, ret_);                                                           \
	} while (0)

/* Run fn(arg) in batches until seconds_per_test elapsed; return calls/s. */
static double rate(void (*fn)(void *), void *arg)
{
	unsigned long n = 0, batch = 1;
	double start = now(), t;
	fn(arg); /* warm-up, not counted */
	start = now();
	do {
		for (unsigned long i = 0; i < batch; i++)
			fn(arg);
		n += batch;
		t = now() - start;
		if (t < seconds_per_test / 20)
			batch *= 2;
	} while (t < seconds_per_test);
	return (double)n / t;
}

static void report(const char *name, double value, const char *unit)
{
	printf("%s\t%.1f\t%s\n", name, value, unit);
	fflush(stdout);
}

/* ---- symmetric ---------------------------------------------------------- */

static unsigned char plain[RECORD], cipher[RECORD], tag[16], iv[12], aad[13];

static void gcm_one(void *arg)
{
	mbedtls_gcm_context *gcm = arg;
	iv[11]++;
	CHECK("gcm_crypt_and_tag",
	      mbedtls_gcm_crypt_and_tag(gcm, MBEDTLS_GCM_ENCRYPT, RECORD, iv, sizeof iv, aad,
					sizeof aad, plain, cipher, sizeof tag, tag));
}

static void chachapoly_one(void *arg)
{
	iv[11]++;
	CHECK("chachapoly_encrypt_and_tag",
	      mbedtls_chachapoly_encrypt_and_tag(arg, RECORD, iv, aad, sizeof aad, plain, cipher,
						 tag));
}

static void bench_symmetric(void)
{
	unsigned char key[32];
	CHECK("ctr_drbg_random", mbedtls_ctr_drbg_random(&drbg, key, sizeof key));
	for (size_t off = 0; off < sizeof plain; off += 1024) /* the DRBG gives 1 KiB per call */
		CHECK("ctr_drbg_random", mbedtls_ctr_drbg_random(&drbg, plain + off, 1024));

	for (int bits = 128; bits <= 256; bits += 128) {
		mbedtls_gcm_context gcm;
		char name[64];
		mbedtls_gcm_init(&gcm);
		CHECK("gcm_setkey",
		      mbedtls_gcm_setkey(&gcm, MBEDTLS_CIPHER_ID_AES, key, (unsigned)bits));
		snprintf(name, sizeof name, "aes-%d-gcm encrypt 16KiB records", bits);
		report(name, rate(gcm_one, &gcm) * RECORD / 1e6, "MB/s");
		mbedtls_gcm_free(&gcm);
	}

	mbedtls_chachapoly_context cp;
	mbedtls_chachapoly_init(&cp);
	CHECK("chachapoly_setkey", mbedtls_chachapoly_setkey(&cp, key));
	report("chacha20-poly1305 encrypt 16KiB records", rate(chachapoly_one, &cp) * RECORD / 1e6,
	       "MB/s");
	mbedtls_chachapoly_free(&cp);
}

/* ---- ECDSA -------------------------------------------------------------- */

struct sig_state {
	mbedtls_pk_context *pk;
	unsigned char hash[32];
	unsigned char sig[MBEDTLS_PK_SIGNATURE_MAX_SIZE];
	size_t siglen;
};

static void pk_sign_one(void *arg)
{
	struct sig_state *s = arg;
	s->hash[0]++;
	CHECK("pk_sign", mbedtls_pk_sign(s->pk, MBEDTLS_MD_SHA256, s->hash, sizeof s->hash, s->sig,
					 &s->siglen, mbedtls_ctr_drbg_random, &drbg));
}

static void pk_verify_one(void *arg)
{
	struct sig_state *s = arg;
	CHECK("pk_verify", mbedtls_pk_verify(s->pk, MBEDTLS_MD_SHA256, s->hash, sizeof s->hash,
					     s->sig, s->siglen));
}

static int load_or_generate(mbedtls_pk_context *pk, const char *path, mbedtls_pk_type_t type)
{
	mbedtls_pk_init(pk);
	if (path) {
		int ret = mbedtls_pk_parse_keyfile(pk, path, NULL);
		if (ret != 0)
			die(path, ret);
		if (mbedtls_pk_get_type(pk) != type) {
			fprintf(stderr, "mbedtls-speed: %s is not a %s key\n", path,
				type == MBEDTLS_PK_ECKEY ? "EC" : "RSA");
			exit(1);
		}
		return 1;
	}
	CHECK("pk_setup", mbedtls_pk_setup(pk, mbedtls_pk_info_from_type(type)));
	if (type == MBEDTLS_PK_ECKEY)
		CHECK("ecp_gen_key",
		      mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(*pk),
					  mbedtls_ctr_drbg_random, &drbg));
	else
		CHECK("rsa_gen_key",
		      mbedtls_rsa_gen_key(mbedtls_pk_rsa(*pk), mbedtls_ctr_drbg_random, &drbg, 2048,
					  65537));
	return 0;
}

static double bench_sign(const char *label, mbedtls_pk_context *pk, int verify_too)
{
	struct sig_state s = {.pk = pk};
	char name[96];
	double sign;
	snprintf(name, sizeof name, "%s sign", label);
	report(name, sign = rate(pk_sign_one, &s), "ops/s");
	if (verify_too) {
		snprintf(name, sizeof name, "%s verify", label);
		report(name, rate(pk_verify_one, &s), "ops/s");
	}
	return sign;
}

/* ---- ECDHE -------------------------------------------------------------- */

struct ecdh_state {
	mbedtls_ecp_group grp;
	mbedtls_mpi d, z, peer_d;
	mbedtls_ecp_point q, peer_q;
};

static void ecdh_gen_one(void *arg)
{
	struct ecdh_state *s = arg;
	CHECK("ecdh_gen_public",
	      mbedtls_ecdh_gen_public(&s->grp, &s->d, &s->q, mbedtls_ctr_drbg_random, &drbg));
}

static void ecdh_shared_one(void *arg)
{
	struct ecdh_state *s = arg;
	CHECK("ecdh_compute_shared", mbedtls_ecdh_compute_shared(&s->grp, &s->z, &s->peer_q, &s->d,
								 mbedtls_ctr_drbg_random, &drbg));
}

/* As mbedTLS 2.28's TLS server makes its ephemeral key: a group loaded for the handshake, so
 * the generator's comb table is computed again each time (the cached one above is reused). */
static void ecdh_gen_fresh_one(void *arg)
{
	struct ecdh_state *s = arg;
	mbedtls_ecp_group grp;
	mbedtls_ecp_group_init(&grp);
	CHECK("ecp_group_load", mbedtls_ecp_group_load(&grp, s->grp.id));
	CHECK("ecdh_gen_public",
	      mbedtls_ecdh_gen_public(&grp, &s->d, &s->q, mbedtls_ctr_drbg_random, &drbg));
	mbedtls_ecp_group_free(&grp);
}

static double bench_ecdh(const char *label, mbedtls_ecp_group_id id, double *fresh)
{
	struct ecdh_state s;
	char name[96];
	double gen, shared;
	mbedtls_ecp_group_init(&s.grp);
	mbedtls_mpi_init(&s.d);
	mbedtls_mpi_init(&s.z);
	mbedtls_mpi_init(&s.peer_d);
	mbedtls_ecp_point_init(&s.q);
	mbedtls_ecp_point_init(&s.peer_q);
	CHECK("ecp_group_load", mbedtls_ecp_group_load(&s.grp, id));
	CHECK("ecdh_gen_public", mbedtls_ecdh_gen_public(&s.grp, &s.peer_d, &s.peer_q,
							 mbedtls_ctr_drbg_random, &drbg));
	ecdh_gen_one(&s);
	snprintf(name, sizeof name, "ecdh %s keygen", label);
	report(name, gen = rate(ecdh_gen_one, &s), "ops/s");
	snprintf(name, sizeof name, "ecdh %s shared secret", label);
	report(name, shared = rate(ecdh_shared_one, &s), "ops/s");
	if (fresh) {
		double gen_fresh;
		snprintf(name, sizeof name, "ecdh %s keygen, fresh group", label);
		report(name, gen_fresh = rate(ecdh_gen_fresh_one, &s), "ops/s");
		*fresh = 1.0 / (1.0 / gen_fresh + 1.0 / shared);
	}
	mbedtls_ecp_group_free(&s.grp);
	mbedtls_mpi_free(&s.d);
	mbedtls_mpi_free(&s.z);
	mbedtls_mpi_free(&s.peer_d);
	mbedtls_ecp_point_free(&s.q);
	mbedtls_ecp_point_free(&s.peer_q);
	return 1.0 / (1.0 / gen + 1.0 / shared);
}

int main(int argc, char **argv)
{
	const char *ec_path = NULL, *rsa_path = NULL;
	int i = 1;
	if (i + 1 < argc && strcmp(argv[i], "-t") == 0) {
		seconds_per_test = atof(argv[i + 1]);
		if (seconds_per_test <= 0) {
			fprintf(stderr, "mbedtls-speed: -t wants a positive number of seconds\n");
			return 2;
		}
		i += 2;
	}
	if (i < argc)
		ec_path = argv[i++];
	if (i < argc)
		rsa_path = argv[i++];
	if (i < argc || (argc > 1 && argv[1][0] == '-' && strcmp(argv[1], "-t") != 0)) {
		fprintf(stderr,
			"usage: mbedtls-speed [-t SECONDS_PER_TEST] [EC_KEY.pem [RSA_KEY.pem]]\n");
		return 2;
	}

	mbedtls_entropy_init(&entropy);
	mbedtls_ctr_drbg_init(&drbg);
	CHECK("ctr_drbg_seed", mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy,
						     (const unsigned char *)"mbedtls-speed", 13));

	printf("# %s, %.1f s per test, one thread\n", MBEDTLS_VERSION_STRING_FULL,
	       seconds_per_test);
	fflush(stdout);
	bench_symmetric();

	mbedtls_pk_context ec, rsa;
	int from_file = load_or_generate(&ec, ec_path, MBEDTLS_PK_ECKEY);
	printf("# ECDSA key: %s\n", from_file ? ec_path : "generated P-256");
	double ec_sign = bench_sign("ecdsa p-256", &ec, 1);
	double p256_fresh;
	double x25519 = bench_ecdh("x25519", MBEDTLS_ECP_DP_CURVE25519, NULL);
	double p256 = bench_ecdh("p-256", MBEDTLS_ECP_DP_SECP256R1, &p256_fresh);
	/* mbedTLS prefers the largest curve the client offers: lighttpd-mbedtls
	 * picks P-384 for a Chrome-like offer (X25519, P-256, P-384). */
	double p384 = bench_ecdh("p-384", MBEDTLS_ECP_DP_SECP384R1, NULL);

	from_file = load_or_generate(&rsa, rsa_path, MBEDTLS_PK_RSA);
	printf("# RSA key: %s\n", from_file ? rsa_path : "generated 2048-bit");
	double rsa_sign = bench_sign("rsa-2048", &rsa, 0);

	/* Server-side public-key work of one full TLS 1.2 ECDHE handshake:
	 * one signature plus one ECDHE keygen and one shared secret. */
	printf("# implied full-handshake ceiling for one core (public-key crypto only):\n");
	report("handshake ceiling ecdsa-p256 + x25519", 1.0 / (1.0 / ec_sign + 1.0 / x25519),
	       "hs/s");
	report("handshake ceiling ecdsa-p256 + p-256", 1.0 / (1.0 / ec_sign + 1.0 / p256), "hs/s");
	/* the same with the ephemeral key made as the TLS server makes it (fresh group) */
	report("handshake ceiling ecdsa-p256 + p-256, fresh group",
	       1.0 / (1.0 / ec_sign + 1.0 / p256_fresh), "hs/s");
	report("handshake ceiling ecdsa-p256 + p-384", 1.0 / (1.0 / ec_sign + 1.0 / p384), "hs/s");
	report("handshake ceiling rsa-2048 + x25519", 1.0 / (1.0 / rsa_sign + 1.0 / x25519),
	       "hs/s");

	mbedtls_pk_free(&ec);
	mbedtls_pk_free(&rsa);
	mbedtls_ctr_drbg_free(&drbg);
	mbedtls_entropy_free(&entropy);
	return 0;
}
