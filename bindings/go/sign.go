package fractal

// #include <fractal.h>
import "C"

import (
	"fmt"
	"runtime"
	"sync"
	"time"
)

// PCSID returns pcs_id(merkleRoot, epoch, shardID) (SPEC §2): the lowercase hex
// SHA-256 of "merkle_root|epoch|shard_id". Strings must be valid UTF-8.
func PCSID(merkleRoot string, epoch uint64, shardID string) (string, error) {
	var buf [C.FRACTAL_PCS_ID_LEN]byte
	var cerr C.FractalError
	mr, mrn := strArg(merkleRoot)
	sh, shn := strArg(shardID)
	st := C.fractal_pcs_id(mr, mrn, C.uint64_t(epoch), sh, shn, (*C.uint8_t)(&buf[0]), C.size_t(len(buf)), &cerr)
	keepAlive(merkleRoot, shardID)
	if err := check(st, &cerr); err != nil {
		return "", err
	}
	return string(buf[:]), nil
}

// SigVersion names the payload a signature covers (SPEC §3–§4).
type SigVersion int

const (
	// V1 is the seed's payload (SPEC §3.1): the eight fields pcs_id,
	// merkle_root, epoch, shard_id, D_hat, coh_star, r and budget, numbers
	// rounded to 9 decimals. Its sig is plain base64. It leaves scales, N_j,
	// regime and the rest unsigned: use it only while a fleet migrates.
	V1 SigVersion = 1
	// V2 is the whole record but its delivery fields (sig, attempt, sent_at,
	// ft), numbers as sent, unknown fields included (SPEC §3.2). Its sig is
	// "v2:" + base64. The default.
	V2 SigVersion = 2
)

// String returns "v1" or "v2".
func (v SigVersion) String() string {
	return fmt.Sprintf("v%d", int(v))
}

// SignOption configures SignHMAC, SignEd25519, Ed25519Key.Sign,
// CanonicalPayload and Digest.
type SignOption func(*signSettings)

type signSettings struct {
	version SigVersion
}

// WithVersion selects the payload version to sign (default V2). WithVersion(1)
// signs the seed's v1 payload, for a verifier that still expects it. Another
// value is an *Error of kind KindInvalidArgument naming "version".
func WithVersion(v SigVersion) SignOption {
	return func(s *signSettings) { s.version = v }
}

func signSettingsOf(opts []SignOption) signSettings {
	s := signSettings{version: V2}
	for _, o := range opts {
		o(&s)
	}
	return s
}

// recordJSON is p as the core reads it: its wire JSON.
func recordJSON(p *PCS) ([]byte, error) {
	if p == nil {
		return nil, argError("pcs", "is nil")
	}
	return MarshalPCS(p)
}

// CanonicalPayload returns the bytes p's signature covers (SPEC §3): by
// default the v2 payload, the RFC 8785 JSON of the whole record but its
// delivery fields, numbers as sent, Extra included; WithVersion(1) gives the
// v1 payload, the RFC 8785 JSON of the eight v1 fields, numbers rounded to 9
// decimals. A value that cannot be signed (NaN, ±Inf, an epoch above
// MaxEpoch, for v2 an integer beyond ±(2^53−1)) is a KindInvalidField error
// naming the field.
func CanonicalPayload(p *PCS, opts ...SignOption) ([]byte, error) {
	if p == nil {
		return nil, argError("pcs", "is nil")
	}
	s := signSettingsOf(opts)
	var out C.FractalBytes
	var cerr C.FractalError
	if s.version == V1 {
		st := C.fractal_canonical_fields_v1(fieldsOf(p), &out, &cerr)
		runtime.KeepAlive(p)
		if err := check(st, &cerr); err != nil {
			return nil, err
		}
		return takeBytes(&out), nil
	}
	data, err := recordJSON(p)
	if err != nil {
		return nil, err
	}
	return canonicalJSON(data, s.version)
}

// Digest returns the 32-byte message both signature algorithms sign (SPEC §3):
// for v2 (the default) SHA-256("fractal-lba/pcs/v2\n" ‖ payload), for v1
// SHA-256(payload).
func Digest(p *PCS, opts ...SignOption) ([32]byte, error) {
	var d [32]byte
	if p == nil {
		return d, argError("pcs", "is nil")
	}
	s := signSettingsOf(opts)
	var cerr C.FractalError
	if s.version == V1 {
		st := C.fractal_digest_fields_v1(fieldsOf(p), (*C.uint8_t)(&d[0]), C.size_t(len(d)), &cerr)
		runtime.KeepAlive(p)
		return d, check(st, &cerr)
	}
	data, err := recordJSON(p)
	if err != nil {
		return d, err
	}
	dp, dn := bytesArg(data)
	st := C.fractal_digest_json(dp, dn, C.uint32_t(s.version), (*C.uint8_t)(&d[0]), C.size_t(len(d)), &cerr)
	keepAlive(data)
	return d, check(st, &cerr)
}

// SignHMAC returns p's signature under HMAC-SHA256 with key (SPEC §4): by
// default "v2:" + base64 of the MAC of the v2 digest, with WithVersion(1) the
// plain base64 of the MAC of the v1 digest. It does not change p; set p.Sig to
// the result to send a signed record (and send it as MarshalPCS writes it).
// The key is the shared secret's bytes and must not be empty.
func SignHMAC(p *PCS, key []byte, opts ...SignOption) (string, error) {
	if p == nil {
		return "", argError("pcs", "is nil")
	}
	s := signSettingsOf(opts)
	if s.version == V1 {
		var buf [C.FRACTAL_HMAC_SIG_LEN]byte
		var cerr C.FractalError
		k, kn := bytesArg(key)
		st := C.fractal_sign_hmac_fields_v1(fieldsOf(p), k, kn, (*C.uint8_t)(&buf[0]), C.size_t(len(buf)), &cerr)
		keepAlive(p, key)
		if err := check(st, &cerr); err != nil {
			return "", err
		}
		return string(buf[:]), nil
	}
	data, err := recordJSON(p)
	if err != nil {
		return "", err
	}
	return signHMACJSON(data, key, s.version)
}

// SignEd25519 returns p's Ed25519 signature (SPEC §4) under the private key
// given as base64 of its 32-byte seed: v2 by default, v1 with WithVersion(1).
// To sign many records, load the key once with Ed25519KeyFromSeed.
func SignEd25519(p *PCS, seedB64 string, opts ...SignOption) (string, error) {
	k, err := Ed25519KeyFromSeed(seedB64)
	if err != nil {
		return "", err
	}
	defer k.Close()
	return k.Sign(p, opts...)
}

// ReadDigest returns the 32-byte digest a read request signs (SPEC §6.1):
// SHA-256("fractal-lba/read/v1\n" ‖ tenant ‖ "\n" ‖ pcsID ‖ "\n" ‖ unix seconds).
func ReadDigest(tenant, pcsID string, at time.Time) ([32]byte, error) {
	var d [32]byte
	t, err := unixSeconds(at)
	if err != nil {
		return d, err
	}
	var cerr C.FractalError
	tp, tn := strArg(tenant)
	ip, in := strArg(pcsID)
	st := C.fractal_read_digest(tp, tn, ip, in, t, (*C.uint8_t)(&d[0]), C.size_t(len(d)), &cerr)
	keepAlive(tenant, pcsID)
	return d, check(st, &cerr)
}

// SignReadHMAC returns the Authorization header value that authenticates
// GET /v1/pcs/{pcsID} for tenant at time at (SPEC §6.1), HMAC-SHA256 under
// key: "Fractal t=<unix seconds>, sig=<base64>". The server accepts it within
// 300 s of its clock. A Client with a key does this for its Get.
func SignReadHMAC(key []byte, tenant, pcsID string, at time.Time) (string, error) {
	t, err := unixSeconds(at)
	if err != nil {
		return "", err
	}
	var out C.FractalBytes
	var cerr C.FractalError
	kp, kn := bytesArg(key)
	tp, tn := strArg(tenant)
	ip, in := strArg(pcsID)
	st := C.fractal_sign_read_hmac(kp, kn, tp, tn, ip, in, t, &out, &cerr)
	keepAlive(key, tenant, pcsID)
	if err := check(st, &cerr); err != nil {
		return "", err
	}
	return string(takeBytes(&out)), nil
}

func unixSeconds(at time.Time) (C.uint64_t, error) {
	if at.Unix() < 0 {
		return 0, argError("t", "must not be before 1970")
	}
	return C.uint64_t(at.Unix()), nil
}

// Ed25519Key is an Ed25519 private key held by the core. It is safe for
// concurrent use. Close it when done; it must not be copied.
type Ed25519Key struct {
	mu sync.RWMutex
	h  *C.FractalEd25519Key
}

func newEd25519Key(h *C.FractalEd25519Key) *Ed25519Key {
	k := &Ed25519Key{h: h}
	runtime.SetFinalizer(k, (*Ed25519Key).Close)
	return k
}

// GenerateEd25519Key creates a key from the operating system's random source.
func GenerateEd25519Key() (*Ed25519Key, error) {
	var h *C.FractalEd25519Key
	var cerr C.FractalError
	if err := check(C.fractal_ed25519_key_generate(&h, &cerr), &cerr); err != nil {
		return nil, err
	}
	return newEd25519Key(h), nil
}

// Ed25519KeyFromSeed loads a key from the base64 of its 32-byte private seed
// (standard alphabet, padded). A bad seed is a KindInvalidKey error.
func Ed25519KeyFromSeed(seedB64 string) (*Ed25519Key, error) {
	var h *C.FractalEd25519Key
	var cerr C.FractalError
	s, sn := strArg(seedB64)
	st := C.fractal_ed25519_key_from_seed(s, sn, &h, &cerr)
	runtime.KeepAlive(seedB64)
	if err := check(st, &cerr); err != nil {
		return nil, err
	}
	return newEd25519Key(h), nil
}

func (k *Ed25519Key) export(f func(*C.FractalEd25519Key, *C.uint8_t, C.size_t, *C.FractalError) C.FractalStatus) (string, error) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	if k.h == nil {
		return "", ErrClosed
	}
	var buf [C.FRACTAL_ED25519_KEY_LEN]byte
	var cerr C.FractalError
	if err := check(f(k.h, (*C.uint8_t)(&buf[0]), C.size_t(len(buf)), &cerr), &cerr); err != nil {
		return "", err
	}
	return string(buf[:]), nil
}

// PublicKey returns the base64 of the 32-byte public key, for a Verifier.
func (k *Ed25519Key) PublicKey() (string, error) {
	return k.export(func(h *C.FractalEd25519Key, o *C.uint8_t, n C.size_t, e *C.FractalError) C.FractalStatus {
		return C.fractal_ed25519_key_public(h, o, n, e)
	})
}

// Seed returns the base64 of the 32-byte private seed. It is a secret: store it
// like one, never log it.
func (k *Ed25519Key) Seed() (string, error) {
	return k.export(func(h *C.FractalEd25519Key, o *C.uint8_t, n C.size_t, e *C.FractalError) C.FractalStatus {
		return C.fractal_ed25519_key_seed(h, o, n, e)
	})
}

// Sign returns p's Ed25519 signature: "v2:" + base64 over the v2 digest by
// default, plain base64 over the v1 digest with WithVersion(1). It does not
// change p.
func (k *Ed25519Key) Sign(p *PCS, opts ...SignOption) (string, error) {
	if p == nil {
		return "", argError("pcs", "is nil")
	}
	s := signSettingsOf(opts)
	if s.version != V1 {
		data, err := recordJSON(p)
		if err != nil {
			return "", err
		}
		return k.signJSON(data, s.version)
	}
	k.mu.RLock()
	defer k.mu.RUnlock()
	if k.h == nil {
		return "", ErrClosed
	}
	var buf [C.FRACTAL_ED25519_SIG_LEN]byte
	var cerr C.FractalError
	st := C.fractal_ed25519_key_sign_fields_v1(k.h, fieldsOf(p), (*C.uint8_t)(&buf[0]), C.size_t(len(buf)), &cerr)
	runtime.KeepAlive(p)
	if err := check(st, &cerr); err != nil {
		return "", err
	}
	return string(buf[:]), nil
}

// SignRead returns the Authorization header value that authenticates
// GET /v1/pcs/{pcsID} for tenant at time at (SPEC §6.1), signed with this key:
// "Fractal t=<unix seconds>, sig=<base64>".
func (k *Ed25519Key) SignRead(tenant, pcsID string, at time.Time) (string, error) {
	t, err := unixSeconds(at)
	if err != nil {
		return "", err
	}
	k.mu.RLock()
	defer k.mu.RUnlock()
	if k.h == nil {
		return "", ErrClosed
	}
	var out C.FractalBytes
	var cerr C.FractalError
	tp, tn := strArg(tenant)
	ip, in := strArg(pcsID)
	st := C.fractal_ed25519_key_sign_read(k.h, tp, tn, ip, in, t, &out, &cerr)
	keepAlive(tenant, pcsID)
	if err := check(st, &cerr); err != nil {
		return "", err
	}
	return string(takeBytes(&out)), nil
}

// Close frees the key. It is idempotent; later calls to other methods return
// ErrClosed.
func (k *Ed25519Key) Close() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.h != nil {
		C.fractal_ed25519_key_free(k.h)
		k.h = nil
		runtime.SetFinalizer(k, nil)
	}
	return nil
}

// signHMACJSON signs a record given as JSON (the core parses it strictly)
// over the payload of version.
func signHMACJSON(data, key []byte, version SigVersion) (string, error) {
	var buf [C.FRACTAL_SIG_MAX_LEN]byte
	var n C.size_t
	var cerr C.FractalError
	d, dn := bytesArg(data)
	k, kn := bytesArg(key)
	st := C.fractal_sign_hmac_json(d, dn, k, kn, C.uint32_t(version), (*C.uint8_t)(&buf[0]), C.size_t(len(buf)), &n, &cerr)
	keepAlive(data, key)
	if err := check(st, &cerr); err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

// canonicalJSON is the payload of version of a record given as JSON.
func canonicalJSON(data []byte, version SigVersion) ([]byte, error) {
	var out C.FractalBytes
	var cerr C.FractalError
	d, dn := bytesArg(data)
	st := C.fractal_canonical_json(d, dn, C.uint32_t(version), &out, &cerr)
	keepAlive(data)
	if err := check(st, &cerr); err != nil {
		return nil, err
	}
	return takeBytes(&out), nil
}

// signJSON signs a record given as JSON over the payload of version.
func (k *Ed25519Key) signJSON(data []byte, version SigVersion) (string, error) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	if k.h == nil {
		return "", ErrClosed
	}
	var buf [C.FRACTAL_SIG_MAX_LEN]byte
	var n C.size_t
	var cerr C.FractalError
	d, dn := bytesArg(data)
	st := C.fractal_ed25519_key_sign_json(k.h, d, dn, C.uint32_t(version), (*C.uint8_t)(&buf[0]), C.size_t(len(buf)), &n, &cerr)
	keepAlive(data)
	if err := check(st, &cerr); err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}
