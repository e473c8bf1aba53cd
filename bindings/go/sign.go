package fractal

// #include <fractal.h>
import "C"

import (
	"runtime"
	"sync"
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

// CanonicalPayload returns the canonical signing payload of p (SPEC §3): the
// RFC 8785 JSON of its eight signed fields, numbers rounded to 9 decimals.
// NaN, ±Inf and an epoch above MaxEpoch are KindInvalidField errors naming the
// field.
func CanonicalPayload(p *PCS) ([]byte, error) {
	if p == nil {
		return nil, argError("pcs", "is nil")
	}
	var out C.FractalBytes
	var cerr C.FractalError
	st := C.fractal_canonical_fields(fieldsOf(p), &out, &cerr)
	runtime.KeepAlive(p)
	if err := check(st, &cerr); err != nil {
		return nil, err
	}
	return takeBytes(&out), nil
}

// Digest returns the SHA-256 of p's canonical payload (SPEC §3 step 4): the
// message both signature algorithms sign.
func Digest(p *PCS) ([32]byte, error) {
	var d [32]byte
	if p == nil {
		return d, argError("pcs", "is nil")
	}
	var cerr C.FractalError
	st := C.fractal_digest_fields(fieldsOf(p), (*C.uint8_t)(&d[0]), C.size_t(len(d)), &cerr)
	runtime.KeepAlive(p)
	return d, check(st, &cerr)
}

// SignHMAC returns base64(HMAC-SHA256(key, digest(p))) (SPEC §4). It does not
// change p; set p.Sig to the result to send a signed record. The key is the
// shared secret's bytes and must not be empty.
func SignHMAC(p *PCS, key []byte) (string, error) {
	if p == nil {
		return "", argError("pcs", "is nil")
	}
	var buf [C.FRACTAL_HMAC_SIG_LEN]byte
	var cerr C.FractalError
	k, kn := bytesArg(key)
	st := C.fractal_sign_hmac_fields(fieldsOf(p), k, kn, (*C.uint8_t)(&buf[0]), C.size_t(len(buf)), &cerr)
	keepAlive(p, key)
	if err := check(st, &cerr); err != nil {
		return "", err
	}
	return string(buf[:]), nil
}

// SignEd25519 returns the base64 Ed25519 signature of p's digest (SPEC §4)
// under the private key given as base64 of its 32-byte seed. To sign many
// records, load the key once with Ed25519KeyFromSeed.
func SignEd25519(p *PCS, seedB64 string) (string, error) {
	k, err := Ed25519KeyFromSeed(seedB64)
	if err != nil {
		return "", err
	}
	defer k.Close()
	return k.Sign(p)
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

// Sign returns the base64 Ed25519 signature of p's digest. It does not change p.
func (k *Ed25519Key) Sign(p *PCS) (string, error) {
	if p == nil {
		return "", argError("pcs", "is nil")
	}
	k.mu.RLock()
	defer k.mu.RUnlock()
	if k.h == nil {
		return "", ErrClosed
	}
	var buf [C.FRACTAL_ED25519_SIG_LEN]byte
	var cerr C.FractalError
	st := C.fractal_ed25519_key_sign_fields(k.h, fieldsOf(p), (*C.uint8_t)(&buf[0]), C.size_t(len(buf)), &cerr)
	runtime.KeepAlive(p)
	if err := check(st, &cerr); err != nil {
		return "", err
	}
	return string(buf[:]), nil
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

// signJSON signs a record given as JSON (used by the golden tests to exercise
// the ABI's JSON path as well as the field path).
func signHMACJSON(data, key []byte) (string, error) {
	var buf [C.FRACTAL_HMAC_SIG_LEN]byte
	var cerr C.FractalError
	d, dn := bytesArg(data)
	k, kn := bytesArg(key)
	st := C.fractal_sign_hmac_json(d, dn, k, kn, (*C.uint8_t)(&buf[0]), C.size_t(len(buf)), &cerr)
	keepAlive(data, key)
	if err := check(st, &cerr); err != nil {
		return "", err
	}
	return string(buf[:]), nil
}

func canonicalJSON(data []byte) ([]byte, error) {
	var out C.FractalBytes
	var cerr C.FractalError
	d, dn := bytesArg(data)
	st := C.fractal_canonical_json(d, dn, &out, &cerr)
	keepAlive(data)
	if err := check(st, &cerr); err != nil {
		return nil, err
	}
	return takeBytes(&out), nil
}

func (k *Ed25519Key) signJSON(data []byte) (string, error) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	if k.h == nil {
		return "", ErrClosed
	}
	var buf [C.FRACTAL_ED25519_SIG_LEN]byte
	var cerr C.FractalError
	d, dn := bytesArg(data)
	st := C.fractal_ed25519_key_sign_json(k.h, d, dn, (*C.uint8_t)(&buf[0]), C.size_t(len(buf)), &cerr)
	keepAlive(data)
	if err := check(st, &cerr); err != nil {
		return "", err
	}
	return string(buf[:]), nil
}
