package fractal

// Benchmarks: the SDK (cgo → Rust core) against the pure-Go implementation of
// SPEC §3–§4 in purego_test.go, in the same run, on the same record.
// `make bench-go` prints the figures and the SDK/pure-Go ratios. Timings are
// reported, never asserted.

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

var benchSink string

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
			benchSink, _ = goSignHMAC(p, key)
		}
	})
}

func BenchmarkVerifyHMAC(b *testing.B) {
	p, key := benchRecord(), []byte("tenant-secret")
	p.Sig, _ = goSignHMAC(p, key)
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
			if !goVerifyHMAC(p, key) {
				b.Fatal("rejected")
			}
		}
	})
}

func BenchmarkSignEd25519(b *testing.B) {
	p := benchRecord()
	seed := make([]byte, 32)
	for i := range seed {
		seed[i] = byte(i + 1)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	k, _ := Ed25519KeyFromSeed(base64.StdEncoding.EncodeToString(seed))
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
			benchSink, _ = goSignEd25519(p, priv)
		}
	})
}

func BenchmarkVerifyEd25519(b *testing.B) {
	p := benchRecord()
	seed := make([]byte, 32)
	for i := range seed {
		seed[i] = byte(i + 1)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	pub := priv.Public().(ed25519.PublicKey)
	p.Sig, _ = goSignEd25519(p, priv)
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
			if !goVerifyEd25519(p, pub) {
				b.Fatal("rejected")
			}
		}
	})
}
