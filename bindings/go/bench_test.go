package fractal

// Benchmarks: the SDK (cgo → Rust core) against the pure-Go implementation of
// SPEC §3–§4 in purego_test.go, in the same run, on the same record and the
// same work: v2 (the default; both sides start from the Go struct and marshal
// it, since v2 signs the record as sent) and v1 (WithVersion(1), the eight
// fields). `make bench-go` prints the figures and the SDK/pure-Go ratios.
// Timings are reported, never asserted.

import (
	"crypto/ed25519"
	"encoding/base64"
	"strings"
	"testing"
)

func benchRecord() *PCS {
	id := goPCSID(strings.Repeat("a", 64), 1, "shard-001")
	return &PCS{PCSID: id, Schema: Schema, Version: "0.1", ShardID: "shard-001", Epoch: 1, Attempt: 1,
		MerkleRoot: strings.Repeat("a", 64), DHat: 1.41, CohStar: 0.73, R: 0.87, Budget: 0.42, Regime: RegimeSticky,
		Scales: []int64{2, 4, 8, 16, 32}, NJ: map[string]int64{"2": 3, "4": 7, "8": 19, "16": 50, "32": 133}}
}

func benchSeed() ed25519.PrivateKey {
	seed := make([]byte, 32)
	for i := range seed {
		seed[i] = byte(i + 1)
	}
	return ed25519.NewKeyFromSeed(seed)
}

var benchSink string

// goWire is what the pure-Go side signs for v2: the record as MarshalPCS writes it.
func goWire(p *PCS) []byte {
	w, _ := MarshalPCS(p)
	return w
}

func BenchmarkSignHMAC(b *testing.B) {
	p, key := benchRecord(), []byte("tenant-secret")
	b.Run("sdk", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			benchSink, _ = SignHMAC(p, key)
		}
	})
	b.Run("purego", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			benchSink, _ = goSignHMACV2(goWire(p), key)
		}
	})
}

func BenchmarkSignHMACv1(b *testing.B) {
	p, key := benchRecord(), []byte("tenant-secret")
	v1 := WithVersion(V1)
	b.Run("sdk", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			benchSink, _ = SignHMAC(p, key, v1)
		}
	})
	b.Run("purego", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			benchSink, _ = goSignHMAC(p, key)
		}
	})
}

func BenchmarkVerifyHMAC(b *testing.B) {
	p, key := benchRecord(), []byte("tenant-secret")
	p.Sig, _ = goSignHMACV2(goWire(p), key)
	v, _ := NewVerifier(HMACKey(key))
	defer v.Close()
	b.Run("sdk", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if err := v.Verify(p); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("purego", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if !goVerifyHMACV2(goWire(p), p.Sig, key) {
				b.Fatal("rejected")
			}
		}
	})
}

func BenchmarkVerifyHMACv1(b *testing.B) {
	p, key := benchRecord(), []byte("tenant-secret")
	p.Sig, _ = goSignHMAC(p, key)
	v, _ := NewVerifier(HMACKey(key), AcceptVersions("v1"))
	defer v.Close()
	b.Run("sdk", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if err := v.Verify(p); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("purego", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if !goVerifyHMAC(p, key) {
				b.Fatal("rejected")
			}
		}
	})
}

func BenchmarkSignEd25519(b *testing.B) {
	p, priv := benchRecord(), benchSeed()
	k, _ := Ed25519KeyFromSeed(base64.StdEncoding.EncodeToString(priv.Seed()))
	defer k.Close()
	b.Run("sdk", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			benchSink, _ = k.Sign(p)
		}
	})
	b.Run("purego", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			benchSink, _ = goSignEd25519V2(goWire(p), priv)
		}
	})
}

func BenchmarkVerifyEd25519(b *testing.B) {
	p, priv := benchRecord(), benchSeed()
	pub := priv.Public().(ed25519.PublicKey)
	p.Sig, _ = goSignEd25519V2(goWire(p), priv)
	v, _ := NewVerifier(Ed25519PublicKey(base64.StdEncoding.EncodeToString(pub)))
	defer v.Close()
	b.Run("sdk", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if err := v.Verify(p); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("purego", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			d, err := goDigestV2(goWire(p))
			sig, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(p.Sig, "v2:"))
			if err != nil || !ed25519.Verify(pub, d[:], sig) {
				b.Fatal("rejected")
			}
		}
	})
}
