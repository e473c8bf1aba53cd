package fractal

// The read cases of golden/ (see golden_test.go for the walk).

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"
)

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
