package fractal

// The canonical v2 cases of golden/ (see golden_test.go for the walk).

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"testing"
)

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
