package fractal

// Every case of every file in ../../golden (SPEC §8), read from the files: a
// file this test does not know, or a file whose case count disagrees with its
// numberOfTests, fails the suite.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"
)

const goldenDir = "../../golden"

type goldenFile struct {
	Algorithm     string            `json:"algorithm"`
	NumberOfTests int               `json:"numberOfTests"`
	TestGroups    []json.RawMessage `json:"testGroups"`
}

type goldenCase struct {
	TcID    int      `json:"tcId"`
	Comment string   `json:"comment"`
	Flags   []string `json:"flags"`
	Result  string   `json:"result"`
}

// goldenFiles lists golden/*.json; no vectors at all is a failure.
func goldenFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(goldenDir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	if len(files) == 0 {
		t.Fatalf("no golden vectors in %s (run `make golden`)", goldenDir)
	}
	return files
}

var goldenRunners = map[string]func(t *testing.T, raw []byte, group json.RawMessage, file map[string]json.RawMessage) int{
	"canonical.json":    runCanonicalGroup,
	"canonical_v2.json": runCanonicalV2Group,
	"legacy.json":       runLegacyGroup,
	"read.json":         runReadGroup,
	"verify.json":       runVerifyGroup,
	"ring.json":         runRingGroup,
	"reject.json":       runRejectGroup,
}

func TestGolden(t *testing.T) {
	seen := map[string]bool{}
	for _, path := range goldenFiles(t) {
		name := filepath.Base(path)
		seen[name] = true
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			run, ok := goldenRunners[name]
			if !ok {
				t.Fatalf("golden file %s has no runner in the Go suite: add one", name)
			}
			var f goldenFile
			if err := json.Unmarshal(raw, &f); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			var top map[string]json.RawMessage
			_ = json.Unmarshal(raw, &top)
			ran := 0
			for _, g := range f.TestGroups {
				ran += run(t, raw, g, top)
			}
			if ran != f.NumberOfTests || ran == 0 {
				t.Fatalf("%s: ran %d cases, numberOfTests says %d", name, ran, f.NumberOfTests)
			}
			t.Logf("%s: %d cases", name, ran)
		})
	}
	for name := range goldenRunners {
		if !seen[name] {
			t.Errorf("golden/%s is missing", name)
		}
	}
}

// groupString reads a string setting from the group, else from the file.
func groupString(group map[string]json.RawMessage, file map[string]json.RawMessage, key string) string {
	for _, m := range []map[string]json.RawMessage{group, file} {
		if v, ok := m[key]; ok {
			var s string
			if json.Unmarshal(v, &s) == nil {
				return s
			}
		}
	}
	return ""
}

func caseName(c goldenCase) string {
	return "tc" + itoa(c.TcID) + "_" + c.Comment
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}

// wantErr checks that err is an *Error of kind and naming field (empty: none).
func wantErr(t *testing.T, what string, err error, kind Kind, field string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Errorf("%s: want a %s error naming %q, got %v", what, kind, field, err)
		return
	}
	if e.Kind != kind || e.Field != field {
		t.Errorf("%s: want kind %s field %q, got kind %s field %q (%v)", what, kind, field, e.Kind, e.Field, e)
	}
	if !errors.Is(err, sentinels[kind]) {
		t.Errorf("%s: errors.Is(err, sentinel of %s) is false", what, kind)
	}
}

// ---------------------------------------------------------------- canonical

type canonicalGroup struct {
	Tests []struct {
		goldenCase
		Record   json.RawMessage `json:"record"`
		Expected struct {
			PCSID      string `json:"pcs_id"`
			Canonical  string `json:"canonical"`
			DigestHex  string `json:"digest_hex"`
			SigHMAC    string `json:"sig_hmac"`
			SigEd25519 string `json:"sig_ed25519"`
		} `json:"expected"`
	} `json:"tests"`
}

// tamperings change one signed field each so that the canonical payload changes.
var tamperings = []struct {
	field string
	apply func(p *PCS)
}{
	{"pcs_id", func(p *PCS) { p.PCSID += "0" }},
	{"merkle_root", func(p *PCS) { p.MerkleRoot = changeID(p.MerkleRoot) }},
	{"epoch", func(p *PCS) {
		if p.Epoch == MaxEpoch {
			p.Epoch--
		} else {
			p.Epoch++
		}
	}},
	{"shard_id", func(p *PCS) { p.ShardID = changeID(p.ShardID) }},
	{"D_hat", func(p *PCS) { p.DHat = nudge(p.DHat) }},
	{"coh_star", func(p *PCS) { p.CohStar = nudge(p.CohStar) }},
	{"r", func(p *PCS) { p.R = nudge(p.R) }},
	{"budget", func(p *PCS) { p.Budget = nudge(p.Budget) }},
}

// nudge changes x by more than the 9-decimal rounding can hide.
func nudge(x float64) float64 {
	if math.Abs(x) < 1e15 {
		return x + 0.5
	}
	return x / 2
}

// groupKeys reads a group's keys: the HMAC key, the Ed25519 key loaded from the
// seed (checked against the public key) and the public key.
func groupKeys(t *testing.T, raw json.RawMessage, file map[string]json.RawMessage) ([]byte, *Ed25519Key, string, string) {
	t.Helper()
	var settings map[string]json.RawMessage
	_ = json.Unmarshal(raw, &settings)
	hmacKey := []byte(groupString(settings, file, "hmac_key"))
	seed := groupString(settings, file, "ed25519_seed")
	public := groupString(settings, file, "ed25519_public")
	key, err := Ed25519KeyFromSeed(seed)
	if err != nil {
		t.Fatalf("group seed: %v", err)
	}
	if got, _ := key.PublicKey(); got != public {
		t.Errorf("public key of the group's seed: got %s, want %s", got, public)
	}
	return hmacKey, key, seed, public
}

func mustVerifier(t *testing.T, opts ...VerifierOption) *Verifier {
	t.Helper()
	v, err := NewVerifier(opts...)
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	return v
}

// canonical.json: the v1 payload (SPEC §3.1), WithVersion(1).
func runCanonicalGroup(t *testing.T, _ []byte, raw json.RawMessage, file map[string]json.RawMessage) int {
	var g canonicalGroup
	if err := json.Unmarshal(raw, &g); err != nil {
		t.Fatalf("canonical group: %v", err)
	}
	hmacKey, key, seed, public := groupKeys(t, raw, file)
	defer key.Close()
	verifier := mustVerifier(t, HMACKey(hmacKey), Ed25519PublicKey(public), AcceptVersions("v1"))
	defer verifier.Close()
	v2only := mustVerifier(t, HMACKey(hmacKey), Ed25519PublicKey(public))
	defer v2only.Close()
	v1 := WithVersion(V1)

	for _, c := range g.Tests {
		t.Run(caseName(c.goldenCase), func(t *testing.T) {
			if c.Result != "valid" {
				t.Fatalf("canonical cases are all valid, got %q", c.Result)
			}
			want := c.Expected
			p, err := ParsePCS(c.Record)
			if err != nil {
				t.Fatalf("ParsePCS: %v", err)
			}
			if id, err := PCSID(p.MerkleRoot, p.Epoch, p.ShardID); err != nil || id != want.PCSID {
				t.Errorf("PCSID = %q, %v; want %q", id, err, want.PCSID)
			}
			if got, err := CanonicalPayload(p, v1); err != nil || string(got) != want.Canonical {
				t.Errorf("CanonicalPayload (fields) = %q, %v\n want %q", got, err, want.Canonical)
			}
			if got, err := canonicalJSON(c.Record, V1); err != nil || string(got) != want.Canonical {
				t.Errorf("canonical (JSON path) = %q, %v\n want %q", got, err, want.Canonical)
			}
			if d, err := Digest(p, v1); err != nil || hex.EncodeToString(d[:]) != want.DigestHex {
				t.Errorf("Digest = %x, %v; want %s", d, err, want.DigestHex)
			}
			if got, err := SignHMAC(p, hmacKey, v1); err != nil || got != want.SigHMAC {
				t.Errorf("SignHMAC = %q, %v; want %q", got, err, want.SigHMAC)
			}
			if got, err := signHMACJSON(c.Record, hmacKey, V1); err != nil || got != want.SigHMAC {
				t.Errorf("SignHMAC (JSON path) = %q, %v; want %q", got, err, want.SigHMAC)
			}
			if got, err := key.Sign(p, v1); err != nil || got != want.SigEd25519 {
				t.Errorf("Ed25519Key.Sign = %q, %v; want %q", got, err, want.SigEd25519)
			}
			if got, err := key.signJSON(c.Record, V1); err != nil || got != want.SigEd25519 {
				t.Errorf("Ed25519 sign (JSON path) = %q, %v; want %q", got, err, want.SigEd25519)
			}
			if got, err := SignEd25519(p, seed, v1); err != nil || got != want.SigEd25519 {
				t.Errorf("SignEd25519 = %q, %v; want %q", got, err, want.SigEd25519)
			}
			// Go → JSON → core must carry the record exactly: sign what Go marshals.
			if b, err := MarshalPCS(p); err != nil {
				t.Errorf("MarshalPCS: %v", err)
			} else if got, err := canonicalJSON(b, V1); err != nil || string(got) != want.Canonical {
				t.Errorf("canonical of Go's JSON = %q, %v; want %q", got, err, want.Canonical)
			}

			for _, sig := range []string{want.SigHMAC, want.SigEd25519} {
				signed := *p
				signed.Sig = sig
				if err := verifier.Verify(&signed); err != nil {
					t.Errorf("Verify(expected sig %.12s…): %v", sig, err)
				}
				b, _ := MarshalPCS(&signed)
				if err := verifier.VerifyJSON(b); err != nil {
					t.Errorf("VerifyJSON(expected sig %.12s…): %v", sig, err)
				}
				// A verifier without a policy accepts v2 only.
				err := v2only.Verify(&signed)
				if !errors.Is(err, ErrUnsupportedSignatureVersion) || !errors.Is(err, ErrSignature) {
					t.Errorf("v2-only Verify(v1 sig) = %v; want ErrUnsupportedSignatureVersion", err)
				}
				wantErr(t, "v2-only Verify(v1 sig)", err, KindUnsupportedSignatureVersion, "sig")
				for _, tm := range tamperings {
					changed := signed
					tm.apply(&changed)
					err := verifier.Verify(&changed)
					if !errors.Is(err, ErrSignatureInvalid) {
						t.Errorf("after changing %s, Verify = %v; want ErrSignatureInvalid", tm.field, err)
					}
				}
			}
		})
	}
	return len(g.Tests)
}

// ---------------------------------------------------------------- canonical v2

type canonicalV2Group struct {
	Tests []struct {
		goldenCase
		RecordText string          `json:"record_text"`
		Record     json.RawMessage `json:"record"`
		Expected   struct {
			PCSID      string `json:"pcs_id"`
			Canonical  string `json:"canonical"`
			DigestHex  string `json:"digest_hex"`
			SigHMAC    string `json:"sig_hmac"`
			SigEd25519 string `json:"sig_ed25519"`
		} `json:"expected"`
	} `json:"tests"`
}

// clone copies p through its JSON form (Extra and the omitted fields kept),
// so that changing a copy's slices and maps leaves p alone.
func clone(t *testing.T, p *PCS) *PCS {
	t.Helper()
	b, err := MarshalPCS(p)
	if err != nil {
		t.Fatal(err)
	}
	var q PCS
	if err := json.Unmarshal(b, &q); err != nil {
		t.Fatal(err)
	}
	return &q
}

// tamperingsV2 change one field the v2 payload signs, each keeping the record
// parseable: the eight v1 fields by the smallest step, the rest of SPEC §1,
// Extra, and an optional field the sender left out now sent.
func tamperingsV2(p *PCS) map[string]func(q *PCS) {
	m := map[string]func(q *PCS){
		"pcs_id":      func(q *PCS) { q.PCSID += "0" },
		"schema":      func(q *PCS) { q.Schema += "0" },
		"version":     func(q *PCS) { q.Version += "0" },
		"merkle_root": func(q *PCS) { q.MerkleRoot = changeID(q.MerkleRoot) },
		"shard_id":    func(q *PCS) { q.ShardID = changeID(q.ShardID) },
		"epoch": func(q *PCS) {
			if q.Epoch == MaxEpoch {
				q.Epoch--
			} else {
				q.Epoch++
			}
		},
		// v2 signs numbers as sent: the smallest step counts.
		"D_hat":    func(q *PCS) { q.DHat = nextToward0(q.DHat) },
		"coh_star": func(q *PCS) { q.CohStar = nextToward0(q.CohStar) },
		"r":        func(q *PCS) { q.R = nextToward0(q.R) },
		"budget":   func(q *PCS) { q.Budget = nextToward0(q.Budget) },
		"regime": func(q *PCS) {
			if q.Regime == RegimeSticky {
				q.Regime = RegimeMixed
			} else {
				q.Regime = RegimeSticky
			}
		},
		"seed": func(q *PCS) {
			if q.Seed > 0 {
				q.Seed--
			} else {
				q.Seed++
			}
		},
		"extra added": func(q *PCS) { setExtra(q, "zz_added", "1") },
	}
	if len(p.Scales) < 64 {
		m["scales"] = func(q *PCS) { // a new small scale: N_j keys stay scales
			used := map[int64]bool{}
			for _, s := range q.Scales {
				used[s] = true
			}
			next := int64(1)
			for used[next] {
				next++
			}
			q.Scales = append(q.Scales, next)
		}
	}
	for k := range p.NJ {
		k := k
		m["N_j"] = func(q *PCS) { // stays ≥ 1
			if q.NJ[k] > 1 {
				q.NJ[k]--
			} else {
				q.NJ[k]++
			}
		}
		break
	}
	if len(p.VStar) < 64 {
		m["v_star"] = func(q *PCS) { q.VStar = append(q.VStar, 0.5) }
	}
	for k := range p.Extra {
		k := k
		m["extra "+k+" changed"] = func(q *PCS) { setExtra(q, k, `"tampered"`) }
		m["extra "+k+" removed"] = func(q *PCS) { delete(q.Extra, k) }
	}
	// Present optional fields left out (scales only where no N_j key needs it).
	if !p.omitted.seed {
		m["seed removed"] = func(q *PCS) { q.Seed, q.omitted.seed = 0, true }
	}
	if !p.omitted.nj {
		m["N_j removed"] = func(q *PCS) { q.NJ, q.omitted.nj = nil, true }
	}
	if !p.omitted.scales && len(p.NJ) == 0 {
		m["scales removed"] = func(q *PCS) { q.Scales, q.omitted.scales = nil, true }
	}
	if !p.omitted.vstar {
		m["v_star removed"] = func(q *PCS) { q.VStar, q.omitted.vstar = nil, true }
	}
	if !p.omitted.regime {
		m["regime removed"] = func(q *PCS) { q.Regime, q.omitted.regime = "", true }
	}
	o := p.omitted
	for name, on := range map[string]struct {
		omitted bool
		send    func(q *PCS)
	}{
		"seed":   {o.seed, func(q *PCS) { q.omitted.seed = false }},
		"scales": {o.scales, func(q *PCS) { q.omitted.scales = false }},
		"N_j":    {o.nj, func(q *PCS) { q.omitted.nj = false }},
		"v_star": {o.vstar, func(q *PCS) { q.omitted.vstar = false }},
		"regime": {o.regime, func(q *PCS) { q.omitted.regime = false }},
	} {
		if on.omitted {
			m[name+" sent though omitted"] = on.send
		}
	}
	return m
}

func changeID(id string) string {
	if len(id) < 128 {
		return id + "0"
	}
	r := []rune(id) // drop the last character (up to 4 bytes), add one byte
	if r[len(r)-1] == '0' {
		return string(r[:len(r)-1]) + "1"
	}
	return string(r[:len(r)-1]) + "0"
}

// nextToward0 is the neighbouring binary64 of x toward zero (away from it for
// 0), always finite.
func nextToward0(x float64) float64 {
	if x == 0 {
		return math.Nextafter(0, 1)
	}
	return math.Nextafter(x, 0)
}

func setExtra(q *PCS, k, v string) {
	if q.Extra == nil {
		q.Extra = map[string]json.RawMessage{}
	}
	q.Extra[k] = json.RawMessage(v)
}

// deliveryChanges change what v2 does not sign: the delivery fields.
var deliveryChanges = map[string]func(q *PCS){
	"attempt": func(q *PCS) { q.Attempt += 6 },
	"sent_at": func(q *PCS) { q.SentAt = "2030-01-01T00:00:00Z" },
	"ft": func(q *PCS) {
		seq := int64(3)
		q.FT = &FaultTolerance{OutboxSeq: &seq}
	},
}

// canonical_v2.json: the v2 payload (SPEC §3.2) of the exact wire text, the
// default of every signing function.
func runCanonicalV2Group(t *testing.T, _ []byte, raw json.RawMessage, file map[string]json.RawMessage) int {
	var g canonicalV2Group
	if err := json.Unmarshal(raw, &g); err != nil {
		t.Fatalf("canonical_v2 group: %v", err)
	}
	hmacKey, key, seed, public := groupKeys(t, raw, file)
	defer key.Close()
	verifier := mustVerifier(t, HMACKey(hmacKey), Ed25519PublicKey(public))
	defer verifier.Close()
	v1only := mustVerifier(t, HMACKey(hmacKey), Ed25519PublicKey(public), AcceptVersions("v1"))
	defer v1only.Close()
	both := mustVerifier(t, HMACKey(hmacKey), Ed25519PublicKey(public), AcceptVersions("v1", "v2"))
	defer both.Close()

	for _, c := range g.Tests {
		t.Run(caseName(c.goldenCase), func(t *testing.T) {
			if c.Result != "valid" {
				t.Fatalf("canonical_v2 cases are all valid, got %q", c.Result)
			}
			want := c.Expected
			text := []byte(c.RecordText)
			p, err := ParsePCS(text)
			if err != nil {
				t.Fatalf("ParsePCS: %v", err)
			}
			if id, err := PCSID(p.MerkleRoot, p.Epoch, p.ShardID); err != nil || id != want.PCSID {
				t.Errorf("PCSID = %q, %v; want %q", id, err, want.PCSID)
			}
			var lenient PCS
			if err := json.Unmarshal(text, &lenient); err != nil {
				t.Fatalf("json.Unmarshal: %v", err)
			}
			fromObject, err := ParsePCS(c.Record)
			if err != nil {
				t.Fatalf("ParsePCS(record): %v", err)
			}
			// The record as Go holds it (strict or lenient parse, text or object
			// form) signs exactly as the wire text does.
			for name, q := range map[string]*PCS{"ParsePCS": p, "json.Unmarshal": &lenient, "ParsePCS(record)": fromObject} {
				if got, err := CanonicalPayload(q); err != nil || string(got) != want.Canonical {
					t.Errorf("CanonicalPayload(%s) = %q, %v\n want %q", name, got, err, want.Canonical)
				}
			}
			if got, err := canonicalJSON(text, V2); err != nil || string(got) != want.Canonical {
				t.Errorf("canonical (JSON path) = %q, %v\n want %q", got, err, want.Canonical)
			}
			if got, err := CanonicalPayload(p, WithVersion(V2)); err != nil || string(got) != want.Canonical {
				t.Errorf("CanonicalPayload(WithVersion(2)) = %q, %v", got, err)
			}
			if d, err := Digest(p); err != nil || hex.EncodeToString(d[:]) != want.DigestHex {
				t.Errorf("Digest = %x, %v; want %s", d, err, want.DigestHex)
			}
			if got, err := SignHMAC(p, hmacKey); err != nil || got != want.SigHMAC {
				t.Errorf("SignHMAC = %q, %v; want %q", got, err, want.SigHMAC)
			}
			if got, err := signHMACJSON(text, hmacKey, V2); err != nil || got != want.SigHMAC {
				t.Errorf("SignHMAC (JSON path) = %q, %v; want %q", got, err, want.SigHMAC)
			}
			if got, err := key.Sign(p); err != nil || got != want.SigEd25519 {
				t.Errorf("Ed25519Key.Sign = %q, %v; want %q", got, err, want.SigEd25519)
			}
			if got, err := key.signJSON(text, V2); err != nil || got != want.SigEd25519 {
				t.Errorf("Ed25519 sign (JSON path) = %q, %v; want %q", got, err, want.SigEd25519)
			}
			if got, err := SignEd25519(p, seed); err != nil || got != want.SigEd25519 {
				t.Errorf("SignEd25519 = %q, %v; want %q", got, err, want.SigEd25519)
			}

			for _, sig := range []string{want.SigHMAC, want.SigEd25519} {
				signed := clone(t, p)
				signed.Sig = sig
				if err := verifier.Verify(signed); err != nil {
					t.Errorf("Verify(expected sig %.12s…): %v", sig, err)
				}
				if err := both.Verify(signed); err != nil {
					t.Errorf("Verify under v1+v2: %v", err)
				}
				wantErr(t, "v1-only Verify(v2 sig)", v1only.Verify(signed), KindUnsupportedSignatureVersion, "sig")
				// Without its prefix the MAC reads as v1 and does not verify (or
				// the v1 payload cannot even be made, e.g. D_hat beyond round9).
				stripped := clone(t, signed)
				stripped.Sig = sig[len("v2:"):]
				if err := both.Verify(stripped); err == nil || errors.Is(err, ErrUnsupportedSignatureVersion) {
					t.Errorf("prefix stripped: Verify = %v; want a refusal", err)
				}
				for name, tm := range tamperingsV2(p) {
					changed := clone(t, signed)
					tm(changed)
					if err := verifier.Verify(changed); !errors.Is(err, ErrSignatureInvalid) {
						t.Errorf("after changing %s, Verify = %v; want ErrSignatureInvalid", name, err)
					}
				}
				for name, tm := range deliveryChanges {
					changed := clone(t, signed)
					tm(changed)
					if err := verifier.Verify(changed); err != nil {
						t.Errorf("after changing %s (not signed), Verify = %v", name, err)
					}
				}
			}
		})
	}
	return len(g.Tests)
}

// ---------------------------------------------------------------- legacy

type legacyGroup struct {
	Tests []struct {
		goldenCase
		Record   json.RawMessage `json:"record"`
		Encoding string          `json:"encoding"`
		Expected struct {
			Payload    string `json:"payload"`
			DigestHex  string `json:"digest_hex"`
			SigHMAC    string `json:"sig_hmac"`
			SigEd25519 string `json:"sig_ed25519"`
		} `json:"expected"`
	} `json:"tests"`
}

// legacy.json: the seed's v1 encodings (SPEC §4.1) verify only where the
// policy lists them.
func runLegacyGroup(t *testing.T, _ []byte, raw json.RawMessage, file map[string]json.RawMessage) int {
	var g legacyGroup
	if err := json.Unmarshal(raw, &g); err != nil {
		t.Fatalf("legacy group: %v", err)
	}
	hmacKey, key, _, public := groupKeys(t, raw, file)
	key.Close()
	keys := []VerifierOption{HMACKey(hmacKey), Ed25519PublicKey(public)}
	plain := mustVerifier(t, append(keys, AcceptVersions("v1"))...)
	defer plain.Close()
	all := mustVerifier(t, append(keys, AcceptVersions("v1", "v2"), AcceptEncodings(EncodingSeedPython, EncodingSeedGo))...)
	defer all.Close()
	v2only := mustVerifier(t, keys...)
	defer v2only.Close()
	for _, c := range g.Tests {
		t.Run(caseName(c.goldenCase), func(t *testing.T) {
			want := c.Expected
			// The file is consistent with itself: the digest is the payload's,
			// the HMAC is over that digest (computed here with crypto/hmac).
			d := sha256.Sum256([]byte(want.Payload))
			if hex.EncodeToString(d[:]) != want.DigestHex {
				t.Errorf("SHA-256(payload) = %x; want %s", d, want.DigestHex)
			}
			if got := goHMAC(hmacKey, d); got != want.SigHMAC {
				t.Errorf("HMAC over the payload's digest = %s; want %s", got, want.SigHMAC)
			}
			listed := mustVerifier(t, append(keys, AcceptVersions("v1"), AcceptEncodings(c.Encoding))...)
			defer listed.Close()
			p, err := ParsePCS(c.Record)
			if err != nil {
				t.Fatalf("ParsePCS: %v", err)
			}
			for _, sig := range []string{want.SigHMAC, want.SigEd25519} {
				signed := *p
				signed.Sig = sig
				for name, v := range map[string]*Verifier{"listed": listed, "all": all} {
					err := v.Verify(&signed)
					if c.Result == "invalid" {
						wantErr(t, name, err, KindSignatureInvalid, "sig")
					} else if err != nil {
						t.Errorf("%s verifier, %s sig %.12s…: %v", name, c.Encoding, sig, err)
					}
				}
				wantErr(t, "encoding not listed", plain.Verify(&signed), KindSignatureInvalid, "sig")
				wantErr(t, "default policy", v2only.Verify(&signed), KindUnsupportedSignatureVersion, "sig")
			}
		})
	}
	return len(g.Tests)
}

// ---------------------------------------------------------------- read

type readGroup struct {
	Tests []struct {
		goldenCase
		Tenant    string `json:"tenant"`
		PCSID     string `json:"pcs_id"`
		T         int64  `json:"t"`
		Header    string `json:"header"`
		Now       int64  `json:"now"`
		ErrorKind string `json:"error_kind"`
		Expected  struct {
			DigestHex            string `json:"digest_hex"`
			AuthorizationHMAC    string `json:"authorization_hmac"`
			AuthorizationEd25519 string `json:"authorization_ed25519"`
		} `json:"expected"`
	} `json:"tests"`
}

// read.json: signed reads (SPEC §6.1): the digest, both header values, the
// Client's Get sending them, and the refusals.
func runReadGroup(t *testing.T, _ []byte, raw json.RawMessage, file map[string]json.RawMessage) int {
	var g readGroup
	if err := json.Unmarshal(raw, &g); err != nil {
		t.Fatalf("read group: %v", err)
	}
	hmacKey, key, seed, public := groupKeys(t, raw, file)
	defer key.Close()
	v := mustVerifier(t, HMACKey(hmacKey), Ed25519PublicKey(public))
	defer v.Close()
	for _, c := range g.Tests {
		t.Run(caseName(c.goldenCase), func(t *testing.T) {
			if c.Result == "invalid" {
				err := v.VerifyRead(c.Tenant, c.PCSID, c.Header, time.Unix(c.Now, 0))
				wantErr(t, "VerifyRead", err, Kind(c.ErrorKind), "sig")
				return
			}
			want := c.Expected
			at := time.Unix(c.T, 0)
			d, err := ReadDigest(c.Tenant, c.PCSID, at)
			if err != nil || hex.EncodeToString(d[:]) != want.DigestHex {
				t.Errorf("ReadDigest = %x, %v; want %s", d, err, want.DigestHex)
			}
			if g := goReadDigest(c.Tenant, c.PCSID, c.T); hex.EncodeToString(g[:]) != want.DigestHex {
				t.Errorf("pure-Go read digest = %x; want %s", g, want.DigestHex)
			}
			hmacHeader, err := SignReadHMAC(hmacKey, c.Tenant, c.PCSID, at)
			if err != nil || hmacHeader != want.AuthorizationHMAC {
				t.Errorf("SignReadHMAC = %q, %v; want %q", hmacHeader, err, want.AuthorizationHMAC)
			}
			if g := "Fractal t=" + itoa(int(c.T)) + ", sig=" + goHMAC(hmacKey, d); g != want.AuthorizationHMAC {
				t.Errorf("pure-Go read header = %q; want %q", g, want.AuthorizationHMAC)
			}
			edHeader, err := key.SignRead(c.Tenant, c.PCSID, at)
			if err != nil || edHeader != want.AuthorizationEd25519 {
				t.Errorf("Ed25519Key.SignRead = %q, %v; want %q", edHeader, err, want.AuthorizationEd25519)
			}
			for _, h := range []string{want.AuthorizationHMAC, want.AuthorizationEd25519} {
				if err := v.VerifyRead(c.Tenant, c.PCSID, h, time.Unix(c.Now, 0)); err != nil {
					t.Errorf("VerifyRead(%.24s…) at now = %v", h, err)
				}
				if err := v.VerifyRead(c.Tenant, c.PCSID, h, at); err != nil {
					t.Errorf("VerifyRead(%.24s…) at t = %v", h, err)
				}
				if err := v.VerifyRead(c.Tenant, c.PCSID, h, at.Add(300*time.Second)); err != nil {
					t.Errorf("VerifyRead 300 s later = %v", err)
				}
				wantErr(t, "301 s later", v.VerifyRead(c.Tenant, c.PCSID, h, at.Add(301*time.Second)), KindSignatureInvalid, "sig")
				wantErr(t, "other tenant", v.VerifyRead(c.Tenant+"x", c.PCSID, h, at), KindSignatureInvalid, "sig")
				wantErr(t, "no header", v.VerifyRead(c.Tenant, c.PCSID, "", at), KindSignatureMissing, "sig")
			}
			// Client.Get sends the same header for its tenant at its clock.
			if !printableASCII(c.Tenant) || !urlSafe(c.PCSID) {
				return
			}
			for alg, opt := range map[string]ClientOption{"hmac": WithHMACKey(hmacKey), "ed25519": WithEd25519Seed(seed)} {
				wantHeader := map[string]string{"hmac": want.AuthorizationHMAC, "ed25519": want.AuthorizationEd25519}[alg]
				var got string
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					got = r.Header.Get("Authorization")
					w.WriteHeader(http.StatusNotFound)
				}))
				c2, err := NewClient(srv.URL, opt, WithTenant(c.Tenant))
				if err != nil {
					t.Fatal(err)
				}
				c2.now = func() time.Time { return at }
				if res, err := c2.Get(context.Background(), c.PCSID); err != nil || res != nil {
					t.Errorf("Get = %v, %v", res, err)
				}
				if got != wantHeader {
					t.Errorf("%s client Get sent Authorization %q; want %q", alg, got, wantHeader)
				}
				c2.Close()
				srv.Close()
			}
		})
	}
	return len(g.Tests)
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return s != ""
}

func urlSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return s != ""
}

// The pure-Go baseline of the benchmarks must compute the same bytes, or the
// benchmark would compare different work.
func TestPureGoBaselineMatchesGolden(t *testing.T) {
	for _, path := range goldenFiles(t) {
		if filepath.Base(path) != "canonical.json" {
			continue
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var f goldenFile
		if err := json.Unmarshal(raw, &f); err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, gr := range f.TestGroups {
			var g canonicalGroup
			if err := json.Unmarshal(gr, &g); err != nil {
				t.Fatal(err)
			}
			var settings map[string]json.RawMessage
			_ = json.Unmarshal(gr, &settings)
			key := []byte(groupString(settings, nil, "hmac_key"))
			for _, c := range g.Tests {
				p, err := ParsePCS(c.Record)
				if err != nil {
					t.Fatalf("tc%d: %v", c.TcID, err)
				}
				got, err := goCanonical(p)
				if err != nil || string(got) != c.Expected.Canonical {
					t.Errorf("tc%d: pure Go canonical = %q, %v; want %q", c.TcID, got, err, c.Expected.Canonical)
				}
				if s, _ := goSignHMAC(p, key); s != c.Expected.SigHMAC {
					t.Errorf("tc%d: pure Go HMAC = %q; want %q", c.TcID, s, c.Expected.SigHMAC)
				}
				if id := goPCSID(p.MerkleRoot, p.Epoch, p.ShardID); id != c.Expected.PCSID {
					t.Errorf("tc%d: pure Go pcs_id = %q; want %q", c.TcID, id, c.Expected.PCSID)
				}
				n++
			}
		}
		if n == 0 {
			t.Fatal("canonical.json has no cases")
		}
		return
	}
	t.Fatal("golden/canonical.json is missing")
}

// The pure-Go v2 (purego_test.go, written from SPEC §3.2) reproduces every
// case of canonical_v2.json from the wire text: an oracle independent of the
// core, and the proof that the v2 benchmarks compare the same work.
func TestPureGoV2MatchesGolden(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(goldenDir, "canonical_v2.json"))
	if err != nil {
		t.Fatal(err)
	}
	var f goldenFile
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, gr := range f.TestGroups {
		var g canonicalV2Group
		if err := json.Unmarshal(gr, &g); err != nil {
			t.Fatal(err)
		}
		var settings map[string]json.RawMessage
		_ = json.Unmarshal(gr, &settings)
		key := []byte(groupString(settings, nil, "hmac_key"))
		for _, c := range g.Tests {
			n++
			got, err := goCanonicalV2([]byte(c.RecordText))
			if err != nil || string(got) != c.Expected.Canonical {
				t.Errorf("tc%d: pure Go v2 canonical = %q, %v; want %q", c.TcID, got, err, c.Expected.Canonical)
			}
			if d, _ := goDigestV2([]byte(c.RecordText)); hex.EncodeToString(d[:]) != c.Expected.DigestHex {
				t.Errorf("tc%d: pure Go v2 digest = %x; want %s", c.TcID, d, c.Expected.DigestHex)
			}
			if s, _ := goSignHMACV2([]byte(c.RecordText), key); s != c.Expected.SigHMAC {
				t.Errorf("tc%d: pure Go v2 HMAC = %q; want %q", c.TcID, s, c.Expected.SigHMAC)
			}
			// What Go marshals from the parsed record signs the same.
			p, err := ParsePCS([]byte(c.RecordText))
			if err != nil {
				t.Fatalf("tc%d: %v", c.TcID, err)
			}
			if s, _ := goSignHMACV2(goWire(p), key); s != c.Expected.SigHMAC {
				t.Errorf("tc%d: pure Go v2 HMAC of MarshalPCS = %q; want %q", c.TcID, s, c.Expected.SigHMAC)
			}
		}
	}
	if n == 0 || n != f.NumberOfTests {
		t.Fatalf("ran %d cases, numberOfTests says %d", n, f.NumberOfTests)
	}
}

// ---------------------------------------------------------------- verify

type verifyGroup struct {
	Params json.RawMessage `json:"params"`
	Tests  []struct {
		goldenCase
		Record   json.RawMessage `json:"record"`
		Expected struct {
			Accepted         bool     `json:"accepted"`
			Escalated        bool     `json:"escalated"`
			RecomputedDHat   *float64 `json:"recomputed_D_hat"`
			RecomputedBudget *float64 `json:"recomputed_budget"`
			Reason           *string  `json:"reason"`
		} `json:"expected"`
	} `json:"tests"`
}

func sameOptional(a, b *float64) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b
}

func showOptional(a *float64) string {
	if a == nil {
		return "absent"
	}
	b, _ := json.Marshal(*a)
	return string(b)
}

func runVerifyGroup(t *testing.T, _ []byte, raw json.RawMessage, _ map[string]json.RawMessage) int {
	var g verifyGroup
	if err := json.Unmarshal(raw, &g); err != nil {
		t.Fatalf("verify group: %v", err)
	}
	params := DefaultVerifyParams()
	if len(g.Params) > 0 && string(g.Params) != "null" {
		dec := json.NewDecoder(bytes.NewReader(g.Params))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&params); err != nil {
			t.Fatalf("verify group params: %v", err)
		}
	}
	for _, c := range g.Tests {
		t.Run(caseName(c.goldenCase), func(t *testing.T) {
			want := c.Expected
			wantReason := ""
			if want.Reason != nil {
				wantReason = *want.Reason
			}
			if (c.Result == "valid") != (want.Accepted && !want.Escalated) {
				t.Fatalf("case says result %q but expects accepted=%v escalated=%v", c.Result, want.Accepted, want.Escalated)
			}
			check := func(path string, got VerifyResult, err error) {
				if err != nil {
					t.Errorf("%s: %v", path, err)
					return
				}
				if got.Accepted != want.Accepted || got.Escalated != want.Escalated ||
					!sameOptional(got.RecomputedDHat, want.RecomputedDHat) ||
					!sameOptional(got.RecomputedBudget, want.RecomputedBudget) || got.Reason != wantReason {
					t.Errorf("%s:\n got  accepted=%v escalated=%v D=%s budget=%s reason=%q\n want accepted=%v escalated=%v D=%s budget=%s reason=%q",
						path, got.Accepted, got.Escalated, showOptional(got.RecomputedDHat), showOptional(got.RecomputedBudget), got.Reason,
						want.Accepted, want.Escalated, showOptional(want.RecomputedDHat), showOptional(want.RecomputedBudget), wantReason)
				}
			}
			got, err := VerifyJSON(c.Record, &params)
			check("VerifyJSON", got, err)
			p, err := ParsePCS(c.Record)
			if err != nil {
				t.Fatalf("ParsePCS: %v", err)
			}
			got, err = Verify(p, &params)
			check("Verify(ParsePCS)", got, err)
		})
	}
	return len(g.Tests)
}

// ---------------------------------------------------------------- ring

type ringGroup struct {
	VNodes int `json:"vnodes"`
	Shards []struct {
		Name    string `json:"name"`
		Weight  *int   `json:"weight"`
		Healthy *bool  `json:"healthy"`
	} `json:"shards"`
	Tests []struct {
		goldenCase
		Op        string          `json:"op"`
		Key       string          `json:"key"`
		N         int             `json:"n"`
		Expected  json.RawMessage `json:"expected"`
		ErrorKind string          `json:"error_kind"`
	} `json:"tests"`
}

func runRingGroup(t *testing.T, _ []byte, raw json.RawMessage, _ map[string]json.RawMessage) int {
	var g ringGroup
	if err := json.Unmarshal(raw, &g); err != nil {
		t.Fatalf("ring group: %v", err)
	}
	vnodes := g.VNodes
	if vnodes == 0 {
		vnodes = DefaultVNodes
	}
	ring, err := NewRing(vnodes)
	if err != nil {
		t.Fatal(err)
	}
	defer ring.Close()
	for _, s := range g.Shards {
		w := 1
		if s.Weight != nil {
			w = *s.Weight
		}
		if err := ring.AddShard(s.Name, w); err != nil {
			t.Fatalf("AddShard(%q): %v", s.Name, err)
		}
		if s.Healthy != nil && !*s.Healthy {
			if err := ring.SetHealthy(s.Name, false); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, c := range g.Tests {
		t.Run(caseName(c.goldenCase), func(t *testing.T) {
			var got any
			var err error
			switch c.Op {
			case "pick":
				got, err = ring.Pick(c.Key)
			case "pick_n":
				got, err = ring.PickN(c.Key, c.N)
			default:
				t.Fatalf("unknown op %q", c.Op)
			}
			if c.Result == "invalid" {
				wantErr(t, c.Op, err, Kind(c.ErrorKind), fieldOfKind(Kind(c.ErrorKind), err))
				return
			}
			if err != nil {
				t.Fatalf("%s(%q): %v", c.Op, c.Key, err)
			}
			gotJSON, _ := json.Marshal(got)
			var want any
			_ = json.Unmarshal(c.Expected, &want)
			wantJSON, _ := json.Marshal(want)
			if !bytes.Equal(gotJSON, wantJSON) {
				t.Errorf("%s(%q, %d) = %s; want %s", c.Op, c.Key, c.N, gotJSON, wantJSON)
			}
		})
	}
	return len(g.Tests)
}

// fieldOfKind: ring errors name no field; argument errors name theirs.
func fieldOfKind(k Kind, err error) string {
	var e *Error
	if k == KindRing || !errors.As(err, &e) {
		return ""
	}
	return e.Field
}

// ---------------------------------------------------------------- reject

type rejectGroup struct {
	Tests []struct {
		goldenCase
		Stage     string  `json:"stage"`
		Input     string  `json:"input"`
		ErrorKind string  `json:"error_kind"`
		Field     *string `json:"field"`
		KeyType   string  `json:"key_type"`
		Policy    *struct {
			Versions  []string `json:"versions"`
			Encodings []string `json:"encodings"`
		} `json:"policy"`
	} `json:"tests"`
}

func runRejectGroup(t *testing.T, _ []byte, raw json.RawMessage, file map[string]json.RawMessage) int {
	var g rejectGroup
	if err := json.Unmarshal(raw, &g); err != nil {
		t.Fatalf("reject group: %v", err)
	}
	var settings map[string]json.RawMessage
	_ = json.Unmarshal(raw, &settings)
	for _, c := range g.Tests {
		t.Run(caseName(c.goldenCase), func(t *testing.T) {
			if c.Result != "invalid" {
				t.Fatalf("reject cases are all invalid, got %q", c.Result)
			}
			kind := Kind(c.ErrorKind)
			field := ""
			if c.Field != nil {
				field = *c.Field
			}
			in := []byte(c.Input)
			switch c.Stage {
			case "parse":
				_, err := ParsePCS(in)
				wantErr(t, "ParsePCS", err, kind, field)
				wantErr(t, "ValidateJSON", ValidateJSON(in), kind, field)
				_, err = VerifyJSON(in, nil)
				wantErr(t, "VerifyJSON", err, kind, field)
			case "validate":
				p, err := ParsePCS(in)
				if err != nil {
					t.Fatalf("ParsePCS must succeed: %v", err)
				}
				wantErr(t, "Validate", Validate(p), kind, field)
				wantErr(t, "ValidateJSON", ValidateJSON(in), kind, field)
			case "sign_v1", "sign": // the v1 payload ("sign" before contract v2)
				p, err := ParsePCS(in)
				if err != nil {
					t.Fatalf("ParsePCS must succeed: %v", err)
				}
				_, err = CanonicalPayload(p, WithVersion(V1))
				wantErr(t, "CanonicalPayload", err, kind, field)
				_, err = canonicalJSON(in, V1)
				wantErr(t, "canonical (JSON path)", err, kind, field)
				_, err = SignHMAC(p, []byte("k"), WithVersion(V1))
				wantErr(t, "SignHMAC", err, kind, field)
			case "sign_v2":
				p, err := ParsePCS(in)
				if err != nil {
					t.Fatalf("ParsePCS must succeed: %v", err)
				}
				_, err = CanonicalPayload(p)
				wantErr(t, "CanonicalPayload", err, kind, field)
				_, err = canonicalJSON(in, V2)
				wantErr(t, "canonical (JSON path)", err, kind, field)
				_, err = Digest(p)
				wantErr(t, "Digest", err, kind, field)
				_, err = SignHMAC(p, []byte("k"))
				wantErr(t, "SignHMAC", err, kind, field)
			case "verify_signature":
				p, err := ParsePCS(in)
				if err != nil {
					t.Fatalf("ParsePCS must succeed: %v", err)
				}
				opts := []VerifierOption{HMACKey([]byte(groupString(settings, file, "hmac_key")))}
				if pub := groupString(settings, file, "ed25519_public"); pub != "" {
					opts = append(opts, Ed25519PublicKey(pub))
				}
				if c.Policy != nil {
					opts = append(opts, AcceptVersions(c.Policy.Versions...), AcceptEncodings(c.Policy.Encodings...))
				}
				v, err := NewVerifier(opts...)
				if err != nil {
					t.Fatalf("NewVerifier: %v", err)
				}
				defer v.Close()
				wantErr(t, "Verifier.Verify", v.Verify(p), kind, field)
				wantErr(t, "Verifier.VerifyJSON", v.VerifyJSON(in), kind, field)
			case "key":
				var err error
				switch c.KeyType {
				case "seed":
					var k *Ed25519Key
					k, err = Ed25519KeyFromSeed(c.Input)
					if k != nil {
						k.Close()
					}
				case "public":
					var v *Verifier
					v, err = NewVerifier(Ed25519PublicKey(c.Input))
					if v != nil {
						v.Close()
					}
				case "hmac":
					var v *Verifier
					v, err = NewVerifier(HMACKey([]byte(c.Input)))
					if v != nil {
						v.Close()
					}
				default:
					t.Fatalf("unknown key_type %q", c.KeyType)
				}
				wantErr(t, "key "+c.KeyType, err, kind, field)
			default:
				t.Fatalf("unknown stage %q", c.Stage)
			}
		})
	}
	return len(g.Tests)
}
