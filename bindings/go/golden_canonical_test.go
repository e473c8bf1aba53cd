package fractal

// The canonical cases of golden/ (see golden_test.go for the walk).

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"testing"
)

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
