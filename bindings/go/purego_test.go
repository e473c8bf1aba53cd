package fractal

// A pure-Go implementation of SPEC §3–§4 and §6.1 (v1 and v2 payloads, read
// digests), written from the SPEC alone: the baseline of the benchmarks
// (bench_test.go) and an independent cross-check of the golden vectors. It is
// test code, never part of the SDK.

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math"
	"sort"
	"strconv"
	"strings"
	"unicode/utf16"
)

// goRound9 is roundHalfAwayFromZero(x × 1e9) / 1e9 in binary64, −0 → 0.
func goRound9(x float64) float64 {
	r := math.Round(float64(x*1e9)) / 1e9
	if r == 0 {
		return 0
	}
	return r
}

// goAppendNumber appends x as ECMAScript Number.prototype.toString writes it.
func goAppendNumber(dst []byte, x float64) []byte {
	if x == 0 {
		return append(dst, '0')
	}
	if x < 0 {
		dst = append(dst, '-')
		x = -x
	}
	var tmp [32]byte
	e := strconv.AppendFloat(tmp[:0], x, 'e', -1, 64) // d[.ddd]e±XX, shortest digits
	i := 0
	var digits []byte
	for ; e[i] != 'e'; i++ {
		if e[i] != '.' {
			digits = append(digits, e[i])
		}
	}
	exp, _ := strconv.Atoi(string(e[i+1:]))
	k, n := len(digits), exp+1 // value = 0.digits × 10^n
	switch {
	case k <= n && n <= 21:
		dst = append(dst, digits...)
		for j := 0; j < n-k; j++ {
			dst = append(dst, '0')
		}
	case 0 < n && n <= 21:
		dst = append(dst, digits[:n]...)
		dst = append(dst, '.')
		dst = append(dst, digits[n:]...)
	case -6 < n && n <= 0:
		dst = append(dst, '0', '.')
		for j := 0; j < -n; j++ {
			dst = append(dst, '0')
		}
		dst = append(dst, digits...)
	default:
		dst = append(dst, digits[0])
		if k > 1 {
			dst = append(dst, '.')
			dst = append(dst, digits[1:]...)
		}
		dst = append(dst, 'e')
		if n-1 >= 0 {
			dst = append(dst, '+')
		}
		dst = strconv.AppendInt(dst, int64(n-1), 10)
	}
	return dst
}

// goAppendString appends s as ECMAScript JSON.stringify writes it.
func goAppendString(dst []byte, s string) []byte {
	const hexd = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			dst = append(dst, '\\', '"')
		case c == '\\':
			dst = append(dst, '\\', '\\')
		case c == '\b':
			dst = append(dst, '\\', 'b')
		case c == '\f':
			dst = append(dst, '\\', 'f')
		case c == '\n':
			dst = append(dst, '\\', 'n')
		case c == '\r':
			dst = append(dst, '\\', 'r')
		case c == '\t':
			dst = append(dst, '\\', 't')
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hexd[c>>4], hexd[c&15])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}

var errGoUnsignable = errors.New("purego: cannot be signed canonically")

func goNumber(x float64) (float64, error) {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return 0, errGoUnsignable
	}
	r := goRound9(x)
	if math.IsInf(r, 0) || math.IsNaN(r) {
		return 0, errGoUnsignable
	}
	return r, nil
}

// goCanonical is the canonical payload of SPEC §3.
func goCanonical(p *PCS) ([]byte, error) {
	if p.Epoch > MaxEpoch {
		return nil, errGoUnsignable
	}
	var nums [4]float64
	for i, x := range []float64{p.DHat, p.Budget, p.CohStar, p.R} {
		r, err := goNumber(x)
		if err != nil {
			return nil, err
		}
		nums[i] = r
	}
	out := make([]byte, 0, 160+len(p.PCSID)+len(p.MerkleRoot)+len(p.ShardID))
	out = append(out, `{"D_hat":`...)
	out = goAppendNumber(out, nums[0])
	out = append(out, `,"budget":`...)
	out = goAppendNumber(out, nums[1])
	out = append(out, `,"coh_star":`...)
	out = goAppendNumber(out, nums[2])
	out = append(out, `,"epoch":`...)
	out = strconv.AppendUint(out, p.Epoch, 10)
	out = append(out, `,"merkle_root":`...)
	out = goAppendString(out, p.MerkleRoot)
	out = append(out, `,"pcs_id":`...)
	out = goAppendString(out, p.PCSID)
	out = append(out, `,"r":`...)
	out = goAppendNumber(out, nums[3])
	out = append(out, `,"shard_id":`...)
	out = goAppendString(out, p.ShardID)
	return append(out, '}'), nil
}

func goDigest(p *PCS) ([32]byte, error) {
	c, err := goCanonical(p)
	if err != nil {
		return [32]byte{}, err
	}
	return sha256.Sum256(c), nil
}

func goSignHMAC(p *PCS, key []byte) (string, error) {
	d, err := goDigest(p)
	if err != nil {
		return "", err
	}
	m := hmac.New(sha256.New, key)
	m.Write(d[:])
	return base64.StdEncoding.EncodeToString(m.Sum(nil)), nil
}

func goVerifyHMAC(p *PCS, key []byte) bool {
	d, err := goDigest(p)
	if err != nil {
		return false
	}
	sig, err := base64.StdEncoding.Strict().DecodeString(p.Sig)
	if err != nil || strings.ContainsAny(p.Sig, " \t\r\n") {
		return false
	}
	m := hmac.New(sha256.New, key)
	m.Write(d[:])
	return hmac.Equal(m.Sum(nil), sig)
}

func goSignEd25519(p *PCS, priv ed25519.PrivateKey) (string, error) {
	d, err := goDigest(p)
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(ed25519.Sign(priv, d[:])), nil
}

func goVerifyEd25519(p *PCS, pub ed25519.PublicKey) bool {
	d, err := goDigest(p)
	if err != nil {
		return false
	}
	sig, err := base64.StdEncoding.Strict().DecodeString(p.Sig)
	if err != nil || strings.ContainsAny(p.Sig, " \t\r\n") {
		return false
	}
	return ed25519.Verify(pub, d[:], sig)
}

func goPCSID(merkleRoot string, epoch uint64, shardID string) string {
	h := sha256.Sum256([]byte(merkleRoot + "|" + strconv.FormatUint(epoch, 10) + "|" + shardID))
	const hexd = "0123456789abcdef"
	out := make([]byte, 64)
	for i, b := range h {
		out[2*i], out[2*i+1] = hexd[b>>4], hexd[b&15]
	}
	return string(out)
}

// goMaxSafe is 2^53−1, the largest integer magnitude v2 signs (SPEC §3.2).
const goMaxSafe = 1<<53 - 1

// goCanonicalV2 is the v2 payload (SPEC §3.2) of a record given as its wire
// JSON: every member but sig, attempt, sent_at and ft, as RFC 8785 JSON with
// numbers as sent.
func goCanonicalV2(wire []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(wire))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		return nil, err
	}
	for _, k := range []string{"sig", "attempt", "sent_at", "ft"} {
		delete(obj, k)
	}
	// The SPEC types these as numbers (binary64), whatever their literal's
	// shape: 1e2 and 100 alike; only integer-typed values have the ±(2^53−1)
	// bound.
	for _, k := range []string{"D_hat", "coh_star", "r", "budget"} {
		if n, ok := obj[k].(json.Number); ok {
			obj[k] = goFloat(n)
		}
	}
	if vs, ok := obj["v_star"].([]any); ok {
		for i, x := range vs {
			if n, ok := x.(json.Number); ok {
				vs[i] = goFloat(n)
			}
		}
	}
	return goAppendJCS(nil, obj)
}

// goFloat marks a number as binary64 for goAppendJCS.
type goFloat json.Number

// goAppendJCS appends v as RFC 8785 writes it: keys sorted by UTF-16 code
// units, numbers as ECMAScript writes them, integers within ±(2^53−1).
func goAppendJCS(dst []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(dst, "null"...), nil
	case bool:
		return strconv.AppendBool(dst, v), nil
	case string:
		return goAppendString(dst, v), nil
	case goFloat:
		f, err := strconv.ParseFloat(string(v), 64)
		if err != nil || math.IsInf(f, 0) {
			return nil, errGoUnsignable
		}
		return goAppendNumber(dst, f), nil
	case json.Number:
		if !strings.ContainsAny(string(v), ".eE") {
			i, err := strconv.ParseInt(string(v), 10, 64)
			if err != nil || i > goMaxSafe || i < -goMaxSafe {
				return nil, errGoUnsignable
			}
			return strconv.AppendInt(dst, i, 10), nil
		}
		f, err := strconv.ParseFloat(string(v), 64)
		if err != nil || math.IsInf(f, 0) {
			return nil, errGoUnsignable
		}
		return goAppendNumber(dst, f), nil
	case []any:
		dst = append(dst, '[')
		for i, x := range v {
			if i > 0 {
				dst = append(dst, ',')
			}
			var err error
			if dst, err = goAppendJCS(dst, x); err != nil {
				return nil, err
			}
		}
		return append(dst, ']'), nil
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool { return goUTF16Less(keys[i], keys[j]) })
		dst = append(dst, '{')
		for i, k := range keys {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(goAppendString(dst, k), ':')
			var err error
			if dst, err = goAppendJCS(dst, v[k]); err != nil {
				return nil, err
			}
		}
		return append(dst, '}'), nil
	}
	return nil, errGoUnsignable
}

func goUTF16Less(a, b string) bool {
	x, y := utf16.Encode([]rune(a)), utf16.Encode([]rune(b))
	for i := 0; i < len(x) && i < len(y); i++ {
		if x[i] != y[i] {
			return x[i] < y[i]
		}
	}
	return len(x) < len(y)
}

// goDigestV2 is SHA-256("fractal-lba/pcs/v2\n" ‖ v2 payload).
func goDigestV2(wire []byte) ([32]byte, error) {
	c, err := goCanonicalV2(wire)
	if err != nil {
		return [32]byte{}, err
	}
	return sha256.Sum256(append([]byte("fractal-lba/pcs/v2\n"), c...)), nil
}

func goHMAC(key []byte, d [32]byte) string {
	m := hmac.New(sha256.New, key)
	m.Write(d[:])
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// goSignHMACV2 signs the record's wire JSON as v2: "v2:" + base64.
func goSignHMACV2(wire []byte, key []byte) (string, error) {
	d, err := goDigestV2(wire)
	if err != nil {
		return "", err
	}
	return "v2:" + goHMAC(key, d), nil
}

func goSignEd25519V2(wire []byte, priv ed25519.PrivateKey) (string, error) {
	d, err := goDigestV2(wire)
	if err != nil {
		return "", err
	}
	return "v2:" + base64.StdEncoding.EncodeToString(ed25519.Sign(priv, d[:])), nil
}

// goVerifyHMACV2 checks a "v2:" sig over the record's wire JSON.
func goVerifyHMACV2(wire []byte, sig string, key []byte) bool {
	if !strings.HasPrefix(sig, "v2:") {
		return false
	}
	mac := sig[len("v2:"):]
	d, err := goDigestV2(wire)
	if err != nil {
		return false
	}
	raw, err := base64.StdEncoding.Strict().DecodeString(mac)
	if err != nil || strings.ContainsAny(mac, " \t\r\n") {
		return false
	}
	m := hmac.New(sha256.New, key)
	m.Write(d[:])
	return hmac.Equal(m.Sum(nil), raw)
}

// goReadDigest is SHA-256("fractal-lba/read/v1\n" ‖ tenant ‖ "\n" ‖ pcs_id ‖ "\n" ‖ t) (SPEC §6.1).
func goReadDigest(tenant, pcsID string, t int64) [32]byte {
	return sha256.Sum256([]byte("fractal-lba/read/v1\n" + tenant + "\n" + pcsID + "\n" + strconv.FormatInt(t, 10)))
}
