// Command mkproxy writes a file-based Go module proxy (GOPROXY=file://DIR)
// serving one version of this module, prebuilt static library included, the
// way a tagged release serves it. `make test-go-get` uses it to prove that a
// module outside the repository can `go get` the SDK and build with it.
//
//	go run ./internal/mkproxy -dir . -version v0.1.0 -out /tmp/proxy
package main

import (
	"archive/zip"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode"
)

func main() {
	dir := flag.String("dir", ".", "the module's root directory (holds go.mod)")
	version := flag.String("version", "v0.1.0", "the version to publish")
	out := flag.String("out", "", "the proxy directory to write")
	flag.Parse()
	if *out == "" {
		log.Fatal("mkproxy: -out is required")
	}
	if err := run(*dir, *version, *out); err != nil {
		log.Fatalf("mkproxy: %v", err)
	}
}

func run(dir, version, out string) error {
	gomod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		return err
	}
	module := modulePath(string(gomod))
	if module == "" {
		return fmt.Errorf("no module line in %s/go.mod", dir)
	}
	vdir := filepath.Join(out, escape(module), "@v")
	if err := os.MkdirAll(vdir, 0o755); err != nil {
		return err
	}
	info := fmt.Sprintf("{\"Version\":%q,\"Time\":%q}\n", version, time.Now().UTC().Format(time.RFC3339))
	for name, body := range map[string][]byte{
		"list":            []byte(version + "\n"),
		version + ".info": []byte(info),
		version + ".mod":  gomod,
	} {
		if err := os.WriteFile(filepath.Join(vdir, name), body, 0o644); err != nil {
			return err
		}
	}
	zf, err := os.Create(filepath.Join(vdir, version+".zip"))
	if err != nil {
		return err
	}
	defer zf.Close()
	zw := zip.NewWriter(zf)
	prefix := module + "@" + version + "/"
	n := 0
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if rel == "." {
				return nil
			}
			if strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			// A directory with its own go.mod is another module.
			if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || strings.HasPrefix(d.Name(), ".") {
			return nil
		}
		w, err := zw.Create(prefix + rel)
		if err != nil {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		n++
		_, err = io.Copy(w, f)
		return err
	})
	if err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	fmt.Printf("mkproxy: %s@%s (%d files) in %s\n", module, version, n, out)
	return nil
}

func modulePath(gomod string) string {
	for _, line := range strings.Split(gomod, "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && f[0] == "module" {
			return strings.Trim(f[1], `"`)
		}
	}
	return ""
}

// escape applies the module proxy's case encoding: "A" becomes "!a".
func escape(path string) string {
	var b strings.Builder
	for _, r := range path {
		if unicode.IsUpper(r) {
			b.WriteByte('!')
			b.WriteRune(unicode.ToLower(r))
		} else {
			b.WriteRune(r)
		}
	}
	return b.String()
}
