package fractal

// The ring cases of golden/ (see golden_test.go for the walk).

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
)

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
