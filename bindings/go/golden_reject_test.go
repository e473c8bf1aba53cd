package fractal

// The reject cases of golden/ (see golden_test.go for the walk).

import (
	"encoding/json"
	"testing"
)

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
