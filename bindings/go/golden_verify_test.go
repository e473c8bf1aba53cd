package fractal

// The verify cases of golden/ (see golden_test.go for the walk).

import (
	"bytes"
	"encoding/json"
	"testing"
)

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
