/* A C caller of include/fractal.h: compiled with -Wall -Wextra -Werror against
 * the static library and run under valgrind by `make check-memory`. It checks
 * the SPEC §3.1 example against the values the golden oracle computed
 * (golden/canonical.json, tcId 1), signs and verifies it as v2 and signs a read
 * (SPEC §3.2, §6.1), and exercises every handle's lifecycle and error path
 * from C. */
#define _GNU_SOURCE /* memmem */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fractal.h"

static int failures = 0;

#define CHECK(cond, ...)                                   \
  do {                                                     \
    if (!(cond)) {                                         \
      fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
      fprintf(stderr, __VA_ARGS__);                        \
      fprintf(stderr, "\n");                               \
      failures++;                                          \
    }                                                      \
  } while (0)

#define S(lit) (const uint8_t *)(lit), strlen(lit)

static const char *MERKLE = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
static const char *PCS_ID = "a687cafc6f56b4da5a9854606076663877ea5e3660cd739af9147d0904665da2";
static const char *CANONICAL =
    "{\"D_hat\":1.41,\"budget\":0.42,\"coh_star\":0.73,\"epoch\":1,\"merkle_root\":\""
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\",\"pcs_id\":\""
    "a687cafc6f56b4da5a9854606076663877ea5e3660cd739af9147d0904665da2\",\"r\":0.87,\"shard_id\":\"shard-001\"}";
static const char *HMAC_KEY = "golden-hmac-key/v1/\xce\xba\xce\xbb\xce\xb5\xce\xb9\xce\xb4\xce\xaf";
static const char *SIG_HMAC = "Mttc0cH+0fAjegaAYxHi65Rc9VUC9z8FHwnW7YPPx0o=";
static const char *SEED = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=";
static const char *PUBLIC = "ebVWLo/mVPlAeLES6KmLp5AfhTrmlb7X4OORC60ElmQ=";
static const char *SIG_ED =
    "M+DTY6ifemcLv5udR+iEOwj9v1Fp0UTL2KOtfN2cWRFg0HLbelBmTiCuMsucnTs5wkNGuhbBm/JRxtemyILNCw==";

static FractalFields spec_fields(void) {
  FractalFields f;
  f.pcs_id = (const uint8_t *)PCS_ID;
  f.pcs_id_len = strlen(PCS_ID);
  f.merkle_root = (const uint8_t *)MERKLE;
  f.merkle_root_len = strlen(MERKLE);
  f.shard_id = (const uint8_t *)"shard-001";
  f.shard_id_len = 9;
  f.epoch = 1;
  f.d_hat = 1.41;
  f.coh_star = 0.73;
  f.r = 0.87;
  f.budget = 0.42;
  return f;
}

int main(void) {
  FractalError err = {NULL, NULL};
  FractalBytes out = {NULL, 0};
  FractalFields f = spec_fields();

  char id[FRACTAL_PCS_ID_LEN];
  CHECK(fractal_pcs_id(S(MERKLE), 1, S("shard-001"), (uint8_t *)id, sizeof id, &err) == FRACTAL_STATUS_OK, "pcs_id");
  CHECK(memcmp(id, PCS_ID, sizeof id) == 0, "pcs_id value");

  CHECK(fractal_canonical_fields_v1(f, &out, &err) == FRACTAL_STATUS_OK, "canonical");
  CHECK(out.len == strlen(CANONICAL) && memcmp(out.ptr, CANONICAL, out.len) == 0, "canonical bytes");
  fractal_bytes_free(&out);

  char sig[FRACTAL_HMAC_SIG_LEN];
  CHECK(fractal_sign_hmac_fields_v1(f, S(HMAC_KEY), (uint8_t *)sig, sizeof sig, &err) == FRACTAL_STATUS_OK, "hmac");
  CHECK(memcmp(sig, SIG_HMAC, sizeof sig) == 0, "hmac value %.44s", sig);

  FractalEd25519Key *key = NULL;
  CHECK(fractal_ed25519_key_from_seed(S(SEED), &key, &err) == FRACTAL_STATUS_OK, "seed");
  char esig[FRACTAL_ED25519_SIG_LEN];
  CHECK(fractal_ed25519_key_sign_fields_v1(key, f, (uint8_t *)esig, sizeof esig, &err) == FRACTAL_STATUS_OK, "ed25519");
  CHECK(memcmp(esig, SIG_ED, sizeof esig) == 0, "ed25519 value");

  FractalVerifierBuilder *b = fractal_verifier_builder_new();
  const char *accept_v1 = "{\"versions\":[\"v1\",\"v2\"]}";
  CHECK(fractal_verifier_builder_set_policy(b, S(accept_v1), &err) == FRACTAL_STATUS_OK, "policy");
  CHECK(fractal_verifier_builder_add_hmac_key(b, S("old"), &err) == FRACTAL_STATUS_OK, "key 1");
  CHECK(fractal_verifier_builder_add_hmac_key(b, S(HMAC_KEY), &err) == FRACTAL_STATUS_OK, "key 2");
  CHECK(fractal_verifier_builder_add_ed25519_public_key(b, S(PUBLIC), &err) == FRACTAL_STATUS_OK, "key 3");
  FractalStatus st = fractal_verifier_builder_add_ed25519_public_key(b, S("not base64"), &err);
  CHECK(st == FRACTAL_STATUS_INVALID_KEY && err.message != NULL, "bad public key: %u", (unsigned)st);
  fractal_error_free(&err);
  const FractalVerifier *v = fractal_verifier_builder_build(b);
  CHECK(fractal_verifier_key_count(v) == 3, "key count");
  CHECK(fractal_verifier_verify_fields_v1(v, f, S(SIG_HMAC), &err) == FRACTAL_STATUS_OK, "verify hmac");
  CHECK(fractal_verifier_verify_fields_v1(v, f, S(SIG_ED), &err) == FRACTAL_STATUS_OK, "verify ed25519");
  FractalFields tampered = f;
  tampered.r = 0.88;
  st = fractal_verifier_verify_fields_v1(v, tampered, S(SIG_HMAC), &err);
  CHECK(st == FRACTAL_STATUS_SIGNATURE_INVALID && err.field && strcmp(err.field, "sig") == 0, "tampered");
  fractal_error_free(&err);
  st = fractal_verifier_verify_fields_v1(v, f, NULL, 0, &err);
  CHECK(st == FRACTAL_STATUS_SIGNATURE_MISSING, "missing sig");
  fractal_error_free(&err);

  /* A verifier without a policy accepts v2 only. */
  FractalVerifierBuilder *b2 = fractal_verifier_builder_new();
  CHECK(fractal_verifier_builder_add_hmac_key(b2, S(HMAC_KEY), &err) == FRACTAL_STATUS_OK, "v2 key");
  const FractalVerifier *v2only = fractal_verifier_builder_build(b2);
  st = fractal_verifier_verify_fields_v1(v2only, f, S(SIG_HMAC), &err);
  CHECK(st == FRACTAL_STATUS_UNSUPPORTED_SIGNATURE_VERSION && err.field && strcmp(err.field, "sig") == 0,
        "v1 refused by default: %u", (unsigned)st);
  fractal_error_free(&err);

  const char *bad = "{\"pcs_id\": 7}";
  st = fractal_validate_json(S(bad), &err);
  CHECK(st == FRACTAL_STATUS_INVALID_FIELD && err.field && strcmp(err.field, "pcs_id") == 0, "field named");
  fractal_error_free(&err);

  FractalRing *ring = NULL;
  CHECK(fractal_ring_new(150, &ring, &err) == FRACTAL_STATUS_OK, "ring");
  CHECK(fractal_ring_add_shard(ring, S("a"), 1, &err) == FRACTAL_STATUS_OK, "add a");
  CHECK(fractal_ring_add_shard(ring, S("b"), 1, &err) == FRACTAL_STATUS_OK, "add b");
  CHECK(fractal_ring_add_shard(ring, S("c"), 1, &err) == FRACTAL_STATUS_OK, "add c");
  CHECK(fractal_ring_pick(ring, S("key-1"), &out, &err) == FRACTAL_STATUS_OK, "pick");
  CHECK(out.len == 1 && out.ptr[0] == 'c', "pick(key-1) = c (golden ring.json tcId 3)");
  fractal_bytes_free(&out);
  CHECK(fractal_ring_pick_n(ring, S("key-1"), 2, &out, &err) == FRACTAL_STATUS_OK, "pick_n");
  CHECK(out.len == 9 && memcmp(out.ptr, "[\"c\",\"b\"]", 9) == 0, "pick_n(key-1, 2) = [c, b] (tcId 10)");
  fractal_bytes_free(&out);
  CHECK(fractal_ring_set_healthy(ring, S("c"), false, &err) == FRACTAL_STATUS_OK, "mark");
  CHECK(fractal_ring_pick(ring, S("key-1"), &out, &err) == FRACTAL_STATUS_OK, "pick after mark");
  CHECK(out.len == 1 && out.ptr[0] == 'b', "walks on to b");
  fractal_bytes_free(&out);
  CHECK(fractal_ring_remove_shard(ring, S("zzz"), &err) == FRACTAL_STATUS_RING, "remove unknown");
  fractal_error_free(&err);
  FractalRingStats stats;
  CHECK(fractal_ring_stats(ring, &stats, &err) == FRACTAL_STATUS_OK && stats.points == 450 && stats.healthy_shards == 2,
        "stats");
  fractal_ring_free(ring);

  /* The client protocol: the core builds the request and decides each step. */
  const char *record =
      "{\"pcs_id\":\"a687cafc6f56b4da5a9854606076663877ea5e3660cd739af9147d0904665da2\",\"schema\":\"fractal-lba-kakeya\","
      "\"version\":\"0.1\",\"shard_id\":\"shard-001\",\"epoch\":1,\"attempt\":1,\"seed\":42,\"scales\":[2,4,8,16,32],"
      "\"N_j\":{\"2\":3,\"4\":7,\"8\":19,\"16\":50,\"32\":133},\"coh_star\":0.73,\"v_star\":[0.12,0.98],\"D_hat\":1.41,"
      "\"r\":0.87,\"regime\":\"sticky\",\"budget\":0.42,\"merkle_root\":"
      "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}";

  /* v2: the whole record is signed, the sig carries its prefix. */
  char sig2[FRACTAL_SIG_MAX_LEN];
  size_t sig2_len = 0;
  CHECK(fractal_sign_hmac_json(S(record), S(HMAC_KEY), FRACTAL_SIG_V2, (uint8_t *)sig2, sizeof sig2, &sig2_len, &err) ==
            FRACTAL_STATUS_OK,
        "hmac v2");
  CHECK(sig2_len == FRACTAL_HMAC_SIG_V2_LEN && memcmp(sig2, "v2:", 3) == 0, "v2 prefix");
  char esig2[FRACTAL_SIG_MAX_LEN];
  size_t esig2_len = 0;
  CHECK(fractal_ed25519_key_sign_json(key, S(record), FRACTAL_SIG_V2, (uint8_t *)esig2, sizeof esig2, &esig2_len, &err) ==
            FRACTAL_STATUS_OK,
        "ed25519 v2");
  CHECK(esig2_len == FRACTAL_ED25519_SIG_V2_LEN && memcmp(esig2, "v2:", 3) == 0, "ed25519 v2 prefix");
  CHECK(fractal_sign_hmac_json(S(record), S(HMAC_KEY), FRACTAL_SIG_V2, (uint8_t *)sig2, 46, &sig2_len, &err) ==
            FRACTAL_STATUS_INVALID_ARGUMENT,
        "a buffer one byte short");
  fractal_error_free(&err);
  CHECK(fractal_canonical_json(S(record), FRACTAL_SIG_V2, &out, &err) == FRACTAL_STATUS_OK, "canonical v2");
  CHECK(out.len > strlen(CANONICAL) && memmem(out.ptr, out.len, "\"regime\":\"sticky\"", strlen("\"regime\":\"sticky\"")) != NULL, "v2 signs regime");
  fractal_bytes_free(&out);

  /* A signed read (SPEC §6.1), checked within and beyond the 300 s window. */
  const char *auth_hmac = NULL;
  CHECK(fractal_sign_read_hmac(S(HMAC_KEY), S("acme"), S(PCS_ID), 1700000000, &out, &err) == FRACTAL_STATUS_OK, "read");
  CHECK(out.len > 10 && memcmp(out.ptr, "Fractal t=1700000000, sig=", 26) == 0, "read header");
  auth_hmac = (const char *)out.ptr;
  CHECK(fractal_verifier_verify_read(v2only, S("acme"), S(PCS_ID), (const uint8_t *)auth_hmac, out.len, 1700000300, &err) ==
            FRACTAL_STATUS_OK,
        "read verifies");
  st = fractal_verifier_verify_read(v2only, S("acme"), S(PCS_ID), (const uint8_t *)auth_hmac, out.len, 1700000301, &err);
  CHECK(st == FRACTAL_STATUS_SIGNATURE_INVALID, "stale read");
  fractal_error_free(&err);
  fractal_bytes_free(&out);
  CHECK(fractal_ed25519_key_sign_read(key, S("acme"), S(PCS_ID), 1700000000, &out, &err) == FRACTAL_STATUS_OK, "ed read");
  CHECK(fractal_verifier_verify_read(v, S("acme"), S(PCS_ID), out.ptr, out.len, 1700000000, &err) == FRACTAL_STATUS_OK,
        "ed25519 read verifies");
  fractal_bytes_free(&out);
  fractal_ed25519_key_free(key);
  fractal_verifier_free(v);

  FractalClient *client = NULL;
  FractalRetryPolicy retry = {.max_retries = 3, .base_delay_ms = 100, .max_delay_ms = 5000};
  CHECK(fractal_client_new(S("http://127.0.0.1:9"), S("c"), S("1"), true, S("acme"), &retry, FRACTAL_SIG_V2,
                           FRACTAL_ALGORITHM_HMAC, S(HMAC_KEY), &client, &err) == FRACTAL_STATUS_OK,
        "client");
  FractalSubmission *sub = NULL;
  CHECK(fractal_client_submit(client, S(record), 7, &sub, &err) == FRACTAL_STATUS_OK, "submit");
  FractalBytes head = {NULL, 0}, body = {NULL, 0};
  CHECK(fractal_submission_request(sub, &head, &body, &err) == FRACTAL_STATUS_OK, "request");
  CHECK(head.len > 0 && memmem(head.ptr, head.len, "\"X-Tenant-Id\",\"acme\"", 20) != NULL, "tenant header");
  CHECK(body.len > 0 && memmem(body.ptr, body.len, sig2, sig2_len) != NULL, "signed body (v2 by default)");
  CHECK(fractal_verifier_verify_json(v2only, body.ptr, body.len, &err) == FRACTAL_STATUS_OK, "the body verifies");
  fractal_bytes_free(&head);
  fractal_bytes_free(&body);
  FractalStep step = {0};
  const char *retry_after = "[[\"Retry-After\",\"1\"]]";
  CHECK(fractal_submission_on_response(sub, 503, S(retry_after), NULL, 0, &step, &err) == FRACTAL_STATUS_OK, "503");
  CHECK(step.kind == FRACTAL_STEP_KIND_RETRY && step.delay_ms == 1000 && step.retries == 1, "retry after 1 s");
  const char *accepted = "{\"accepted\":true,\"escalated\":false}";
  CHECK(fractal_submission_on_response(sub, 200, NULL, 0, S(accepted), &step, &err) == FRACTAL_STATUS_OK, "200");
  CHECK(step.kind == FRACTAL_STEP_KIND_SUCCESS && step.json.len > 0, "success");
  fractal_step_free(&step);
  fractal_submission_free(sub);
  CHECK(fractal_client_get(client, S(PCS_ID), 1700000000, 7, &sub, &err) == FRACTAL_STATUS_OK, "get");
  CHECK(fractal_submission_request(sub, &head, &body, &err) == FRACTAL_STATUS_OK, "get request");
  const char *signed_read = "\"Authorization\",\"Fractal t=1700000000, sig=";
  CHECK(memmem(head.ptr, head.len, signed_read, strlen(signed_read)) != NULL, "signed read");
  fractal_bytes_free(&head);
  fractal_bytes_free(&body);
  fractal_submission_free(sub);
  fractal_verifier_free(v2only);
  const char *reason = "connection refused";
  CHECK(fractal_client_health(client, 7, &sub, &err) == FRACTAL_STATUS_OK, "health");
  CHECK(fractal_submission_on_transport_error(sub, S(reason), false, &step, &err) == FRACTAL_STATUS_OK, "refused");
  CHECK(step.kind == FRACTAL_STEP_KIND_RETRY && step.delay_ms < 100, "jittered first retry below the base delay");
  fractal_submission_free(sub);
  const char *invalid = "{\"pcs_id\":\"x\"}";
  st = fractal_client_submit(client, S(invalid), 7, &sub, &err);
  CHECK(st == FRACTAL_STATUS_INVALID_FIELD && err.message != NULL, "invalid record refused: %u", (unsigned)st);
  fractal_error_free(&err);
  fractal_client_free(client);

  if (failures) {
    fprintf(stderr, "abi_smoke: %d failure(s)\n", failures);
    return 1;
  }
  printf("abi_smoke: ok (fractal %s)\n", fractal_version());
  return 0;
}
