package fractal

// The legacy cases of golden/ (see golden_test.go for the walk).

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"testing"
)

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
