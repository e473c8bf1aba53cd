package fractal

// Every case of every file in ../../golden (SPEC §8), read from the files: a
// file this test does not know, or a file whose case count disagrees with its
// numberOfTests, fails the suite.

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"testing"
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
